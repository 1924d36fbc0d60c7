"""The delivery worker: claim due deliveries, POST them signed, record each attempt exactly once.

A pass keeps up to `BATCH` requests in flight. It claims due deliveries (a lease on each, committed
before any request goes out), sends them from a pool of threads, and each time some come back it
records them as one batch and claims as many more as fit, while the others are still in flight.

A batch is recorded set-based: one guarded UPDATE of the deliveries (attempt N is written only on a
delivery still pending with N - 1 recorded; RETURNING says which), one multi-row INSERT of those
attempts (`(delivery, number)` is unique besides), one UPDATE of the events' `pending_webhooks` and
the endpoints' health read and written once. A crash between send and record leaves the lease to
expire and the attempt is sent again (at-least-once), but it is recorded at most once. Leases
outlast the request timeout, so a live worker's attempt is never taken over.

Requests go only to public addresses unless `webhook_allow_private` is set (see `egress`), and of the
answer only its status line is kept: a URL pointing inside the network must not read anything back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import httpx
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from tenure import __version__
from tenure.events.models import Event
from tenure.events.schemas import serialize_event
from tenure.ids import new_id
from tenure.jobs.queue import enqueue
from tenure.jobs.worker import register_periodic
from tenure.runtime import Runtime
from tenure.webhooks import service as _service  # noqa: F401  (registers the event listener)
from tenure.webhooks.egress import PublicOnlyTransport, RefusedAddress
from tenure.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tenure.webhooks.signing import SecretBox, signature_headers

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
# Longer than any request can take (connect + write + read, each bounded by the timeout).
LEASE_SECONDS = 30
# At most this many requests in flight to one endpoint, across all workers.
MAX_IN_FLIGHT_PER_ENDPOINT = 4
# At most this many requests in flight from one pass (claimed and not yet recorded).
BATCH = 16
# A pass stops claiming after this long, so that the worker's other tasks get their turn.
PASS_SECONDS = 5.0
# Read (and dropped) of an answer's body, so that its connection can serve the next request.
DRAIN_BYTES = 4096
STATUS_LINE_CHARS = 100
ENDPOINT_DISABLED_JOB = "operator.webhook_endpoint_disabled"
# Serializes claims across PostgreSQL workers so that in-flight counts per endpoint are exact.
_CLAIM_LOCK = 0x7465_6E75_7265_7768

# The tables themselves: the batch statements are Core, with no ORM state to keep in step.
_deliveries = cast(Table, WebhookDelivery.__table__)
_attempts = cast(Table, WebhookAttempt.__table__)
_endpoints = cast(Table, WebhookEndpoint.__table__)
_events = cast(Table, Event.__table__)


@dataclass(frozen=True)
class ClaimedDelivery:
    """Everything one attempt needs, read at claim time so that sending needs no database."""

    pk: int
    id: str
    number: int
    event_id: str
    endpoint_id: str
    manual: bool
    url: str
    scheme: str
    secret: str
    payload: bytes


@dataclass(frozen=True)
class SendResult:
    started_at: int
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    status_line: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- rules ---------------------------------------------------------------------------------


def next_attempt_at(schedule: list[int], *, attempts_made: int, now: int) -> int | None:
    """When to retry after `attempts_made` failed attempts, or None once the schedule is spent."""
    if attempts_made <= len(schedule):
        return now + schedule[attempts_made - 1]
    return None


def failing_too_long(failing_since: int | None, *, now: int, schedule: list[int]) -> bool:
    """An endpoint that has failed for as long as the whole retry schedule is disabled."""
    return failing_since is not None and now - failing_since >= sum(schedule)


@dataclass(frozen=True)
class Settled:
    """A delivery after attempt `number`: its status and, while pending, when to try again."""

    status: DeliveryStatus
    next_attempt_at: int | None


def settle(*, number: int, manual: bool, succeeded: bool, now: int, schedule: list[int]) -> Settled:
    """Succeeded; or pending until the next retry; or failed once the schedule is spent (at once
    for a manual resend, which is tried once)."""
    if succeeded:
        return Settled(DeliveryStatus.SUCCEEDED, None)
    retry_at = None if manual else next_attempt_at(schedule, attempts_made=number, now=now)
    if retry_at is None:
        return Settled(DeliveryStatus.FAILED, None)
    return Settled(DeliveryStatus.PENDING, retry_at)


@dataclass(frozen=True)
class Health:
    """An endpoint's health after some automatic attempts; `disabled_since` is set when they
    disabled it (the start of the run of failures that did)."""

    failing_since: int | None
    status: str
    disabled_since: int | None = None


def health_after(
    failing_since: int | None, status: str, outcomes: Sequence[bool], *, now: int, schedule: list[int]
) -> Health:
    """Apply automatic attempts' outcomes (succeeded or not, in order) to an endpoint's health: a
    success clears the run of failures, a failure starts one, and an enabled endpoint failing for
    as long as the whole schedule is disabled."""
    disabled_since = None
    for succeeded in outcomes:
        if succeeded:
            failing_since = None
            continue
        if failing_since is None:
            failing_since = now
        if status == EndpointStatus.ENABLED and failing_too_long(failing_since, now=now, schedule=schedule):
            status = EndpointStatus.DISABLED
            disabled_since = failing_since
    return Health(failing_since, status, disabled_since)


def status_line(status_code: int) -> str:
    """What is kept of an answer: its status with the standard reason phrase ("HTTP 404 Not Found"),
    never the receiver's own words."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return f"HTTP {status_code}"
    return f"HTTP {status_code} {phrase}"[:STATUS_LINE_CHARS]


def failure_reason(exc: httpx.HTTPError) -> str:
    """A short reason for a request that got no answer, holding nothing the other side sent."""
    if isinstance(exc.__cause__, RefusedAddress):
        return str(exc.__cause__)[:200]
    if isinstance(exc, httpx.RemoteProtocolError):
        # h11 quotes the offending bytes: an internal service's banner would be read back.
        return "RemoteProtocolError: the answer is not HTTP/1.1"
    return f"{type(exc).__name__}: {exc}"[:500]


def event_payload(event: Event) -> bytes:
    return json.dumps(serialize_event(event), ensure_ascii=False, indent=2).encode("utf-8")


def request_headers(
    scheme: str, *, secret: str, message_id: str, payload: bytes, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"Tenure/{__version__} (+webhooks)",
        **signature_headers(
            scheme, secret=secret, message_id=message_id, payload=payload, timestamp=timestamp
        ),
    }


# --- claim ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    deliveries: list[ClaimedDelivery]
    abandoned: int
    # Nothing due is left for a next claim to take (none was held back by `limit` or by the
    # in-flight bounds): a pass stops claiming.
    exhausted: bool = False


def _ready(now: int, *, due_by: int | None = None) -> list[Any]:
    """Due by `due_by` (default: `now`) and not leased, or its lease has expired."""
    return [
        WebhookDelivery.next_attempt_at <= (now if due_by is None else due_by),
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    ]


def _due(now: int, *, due_by: int | None = None) -> list[Any]:
    return [WebhookDelivery.status == DeliveryStatus.PENDING, *_ready(now, due_by=due_by)]


def claim(session: Session, *, now: int, limit: int, box: SecretBox, due_by: int | None = None) -> Claim:
    """Lease up to `limit` deliveries due by `due_by` (default: `now`), at most
    `MAX_IN_FLIGHT_PER_ENDPOINT` per endpoint.

    Automatic deliveries to a disabled endpoint are abandoned (marked failed), as Stripe stops
    retrying them; manual resends still go out. Each event's payload is serialized once, however
    many endpoints it goes to. Commit right after, then send.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK)))
    # One pass over the pending deliveries (not two): which endpoints have some due, and how many
    # each has in flight. Scanning them is what a claim costs once many are queued.
    ready = and_(*_ready(now, due_by=due_by))
    per_endpoint = session.execute(
        select(
            _deliveries.c.endpoint_id,
            func.min(_deliveries.c.next_attempt_at).filter(ready),
            func.count().filter(_deliveries.c.locked_until >= now),
        )
        .where(_deliveries.c.status == DeliveryStatus.PENDING)
        .group_by(_deliveries.c.endpoint_id)
    ).all()
    waiting = [(endpoint_id, oldest) for endpoint_id, oldest, _ in per_endpoint if oldest is not None]
    if not waiting:
        return Claim([], 0, exhausted=True)
    endpoint_ids = [endpoint_id for endpoint_id, _ in sorted(waiting, key=lambda row: (row[1], row[0]))]
    in_flight: dict[str, int] = {endpoint_id: count for endpoint_id, _, count in per_endpoint}
    endpoints = {
        row.id: row
        for row in session.execute(
            select(
                _endpoints.c.id,
                _endpoints.c.status,
                _endpoints.c.url,
                _endpoints.c.signature_scheme,
                _endpoints.c.secret_encrypted,
            ).where(_endpoints.c.id.in_(endpoint_ids))
        )
    }
    abandoned = 0
    leased: list[tuple[Any, Any, str]] = []
    # Whether every endpoint's due deliveries were all leased (or cannot be sent at all).
    exhausted = True
    for endpoint_id in endpoint_ids:
        endpoint = endpoints.get(endpoint_id)
        if endpoint is None:
            continue
        disabled = endpoint.status != EndpointStatus.ENABLED
        if disabled:
            abandoned += _abandon(session, endpoint_id, now=now)
        room = min(MAX_IN_FLIGHT_PER_ENDPOINT - in_flight.get(endpoint_id, 0), limit - len(leased))
        if room <= 0:
            exhausted = False
            continue
        try:
            secret = box.decrypt(endpoint.secret_encrypted)
        except ValueError:
            log.error(
                "webhook endpoint %s: its secret cannot be decrypted (secret key changed?)", endpoint_id
            )
            continue
        rows = _lease(
            session, endpoint_id, now=now, due_by=due_by, room=room, manual_only=disabled, postgres=postgres
        )
        leased.extend((row, endpoint, secret) for row in rows)
        if len(rows) == room:  # more may be due (and past `limit`, other endpoints' are)
            exhausted = False
        if len(leased) >= limit:
            break
    payloads = {
        event.id: event_payload(event)
        for event in session.scalars(
            select(Event).where(Event.id.in_({row.event_id for row, _, _ in leased}))
        )
    }
    claimed = [
        ClaimedDelivery(
            pk=row.pk,
            id=row.id,
            number=row.attempt_count + 1,
            event_id=row.event_id,
            endpoint_id=endpoint.id,
            manual=row.manual,
            url=endpoint.url,
            scheme=endpoint.signature_scheme,
            secret=secret,
            payload=payloads[row.event_id],
        )
        for row, endpoint, secret in leased
    ]
    return Claim(claimed, abandoned, exhausted=exhausted)


def _lease(
    session: Session,
    endpoint_id: str,
    *,
    now: int,
    due_by: int | None,
    room: int,
    manual_only: bool,
    postgres: bool,
) -> list[Any]:
    """Lease the endpoint's `room` longest-due deliveries in one statement; their rows, oldest first."""
    due = (
        select(_deliveries.c.pk)
        .where(*_due(now, due_by=due_by), _deliveries.c.endpoint_id == endpoint_id)
        .order_by(_deliveries.c.next_attempt_at, _deliveries.c.pk)
        .limit(room)
    )
    if manual_only:
        due = due.where(_deliveries.c.manual.is_(True))
    if postgres:
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(_deliveries)
        .where(_deliveries.c.pk.in_(due))
        .values(locked_until=now + LEASE_SECONDS)
        .returning(
            _deliveries.c.pk,
            _deliveries.c.id,
            _deliveries.c.event_id,
            _deliveries.c.manual,
            _deliveries.c.attempt_count,
            _deliveries.c.next_attempt_at,
        )
    ).all()
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.pk))


def _abandon(session: Session, endpoint_id: str, *, now: int) -> int:
    result = session.execute(
        update(WebhookDelivery)
        .where(*_due(now), WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.manual.is_(False))
        .values(status=DeliveryStatus.FAILED, next_attempt_at=None, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- send ----------------------------------------------------------------------------------


_clients: dict[bool, httpx.Client] = {}
_client_lock = threading.Lock()


def _shared_client(*, allow_private: bool) -> httpx.Client:
    """One long-lived client per worker process and egress policy. Its connection pool is keyed by
    origin: each endpoint's HTTP/1.1 connections stay alive across deliveries and passes, and the
    TLS context is built once (a client per origin cost 50-180 ms to build, two TLS contexts with
    `PublicOnlyTransport`: a pass to new endpoints spent longer building clients than sending)."""
    with _client_lock:
        client = _clients.get(allow_private)
        if client is None:
            # A pass has at most `BATCH` requests in flight, over any number of origins; idle
            # connections to more origins than that are closed, least recently used first.
            limits = httpx.Limits(max_connections=BATCH * 2, max_keepalive_connections=BATCH * 2)
            client = httpx.Client(
                timeout=httpx.Timeout(TIMEOUT_SECONDS),
                follow_redirects=False,
                limits=limits,
                transport=None if allow_private else PublicOnlyTransport(limits=limits),
            )
            _clients[allow_private] = client
        return client


def send(
    url: str, *, payload: bytes, headers: dict[str, str], started_at: int, allow_private: bool
) -> SendResult:
    """POST `payload`; any answer or failure becomes a result, never an exception.

    Unless `allow_private`, only to public addresses (a refusal is a failure like any other).
    """
    began = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        client = _shared_client(allow_private=allow_private)
        with client.stream("POST", url, content=payload, headers=headers) as response:
            status_code = response.status_code
            drained = 0
            for chunk in response.iter_raw():
                drained += len(chunk)
                if drained >= DRAIN_BYTES or time.monotonic() - began > TIMEOUT_SECONDS:
                    break
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as exc:
        error = failure_reason(exc)
    except httpx.InvalidURL as exc:
        error = f"InvalidURL: {exc}"[:500]
    duration_ms = int((time.monotonic() - began) * 1000)
    return SendResult(
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=status_code,
        error=error,
        status_line=None if status_code is None else status_line(status_code),
    )


# --- record --------------------------------------------------------------------------------


def record_attempts(
    session: Session,
    results: Sequence[tuple[ClaimedDelivery, SendResult]],
    *,
    now: int,
    schedule: list[int],
) -> list[ClaimedDelivery]:
    """Record a batch of attempts and settle or reschedule their deliveries, with one statement of
    each kind whatever the batch's size. Returns those recorded: an attempt already recorded, or
    whose delivery was deleted with its endpoint meanwhile, writes nothing.

    Gives the rows `record_attempt` gives applied to the batch in order (tests compare them).
    """
    batch: dict[int, tuple[ClaimedDelivery, SendResult, Settled]] = {}
    for claimed, result in results:
        if claimed.pk not in batch:  # the same delivery twice in one batch: only its first is new
            batch[claimed.pk] = (
                claimed,
                result,
                settle(
                    number=claimed.number,
                    manual=claimed.manual,
                    succeeded=result.succeeded,
                    now=now,
                    schedule=schedule,
                ),
            )
    if not batch:
        return []
    # In key order, so that concurrent writers take the rows' locks in one order.
    ordered = sorted(batch.items())

    def per_delivery(values: list[Any], type_: Any) -> Any:
        return case(
            {pk: literal(value, type_) for (pk, _), value in zip(ordered, values, strict=True)},
            value=_deliveries.c.pk,
        )

    outcomes = [outcome for _, (_, _, outcome) in ordered]
    recorded_pks = set(
        session.scalars(
            update(_deliveries)
            .where(
                _deliveries.c.pk.in_([pk for pk, _ in ordered]),
                _deliveries.c.status == DeliveryStatus.PENDING,
                # Attempt N only on a delivery with N - 1 recorded: at most once.
                _deliveries.c.attempt_count
                == per_delivery([claimed.number - 1 for _, (claimed, _, _) in ordered], Integer),
            )
            .values(
                status=per_delivery([outcome.status.value for outcome in outcomes], String),
                attempt_count=_deliveries.c.attempt_count + 1,
                next_attempt_at=per_delivery([outcome.next_attempt_at for outcome in outcomes], BigInteger),
                locked_until=None,
            )
            .returning(_deliveries.c.pk)
        )
    )
    recorded = [entry for pk, entry in batch.items() if pk in recorded_pks]
    if not recorded:
        return []
    # With RETURNING, SQLAlchemy sends the rows as one multi-row INSERT built from a statement it
    # compiled once ("insertmanyvalues"); a `.values([...])` list would be compiled every time.
    session.execute(
        insert(_attempts).returning(_attempts.c.pk),
        [
            {
                "id": new_id("whatt"),
                "created": result.started_at,
                "livemode": False,
                "delivery_pk": claimed.pk,
                "delivery_id": claimed.id,
                "number": claimed.number,
                "event_id": claimed.event_id,
                "endpoint_id": claimed.endpoint_id,
                "manual": claimed.manual,
                "succeeded": result.succeeded,
                "status_code": result.status_code,
                "error": result.error,
                "duration_ms": result.duration_ms,
                "response_excerpt": result.status_line,
                "next_attempt_at": outcome.next_attempt_at,
            }
            for claimed, result, outcome in recorded
        ],
    ).all()
    automatic = [(claimed, result) for claimed, result, _ in recorded if not claimed.manual]
    delivered = Counter(claimed.event_id for claimed, result in automatic if result.succeeded)
    if delivered:
        _decrement_pending(session, delivered)
    health: dict[str, list[bool]] = {}
    for claimed, result in automatic:
        health.setdefault(claimed.endpoint_id, []).append(result.succeeded)
    if health:
        _update_health_batch(session, health, now=now, schedule=schedule)
    return [claimed for claimed, _, _ in recorded]


def _decrement_pending(session: Session, delivered: Counter[str]) -> None:
    """One event may have been delivered to several endpoints in the batch: count each, never below 0."""
    ordered = sorted(delivered.items())
    count = case({event_id: literal(times, Integer) for event_id, times in ordered}, value=_events.c.id)
    session.execute(
        update(_events)
        .where(_events.c.id.in_([event_id for event_id, _ in ordered]), _events.c.pending_webhooks > 0)
        .values(
            pending_webhooks=case(
                (_events.c.pending_webhooks > count, _events.c.pending_webhooks - count), else_=0
            )
        )
    )


def _update_health_batch(
    session: Session, outcomes: dict[str, list[bool]], *, now: int, schedule: list[int]
) -> None:
    """`_update_health` for a batch: the endpoints whose health may change are read (and locked,
    in key order) at once, and those that changed written at once. An endpoint with only successes
    and no run of failures to clear is neither read nor locked."""
    failed = [endpoint_id for endpoint_id, results in outcomes.items() if not all(results)]
    rows = session.execute(
        select(_endpoints.c.id, _endpoints.c.url, _endpoints.c.status, _endpoints.c.failing_since)
        .where(
            _endpoints.c.id.in_(sorted(outcomes)),
            or_(_endpoints.c.id.in_(failed), _endpoints.c.failing_since.is_not(None)),
        )
        .order_by(_endpoints.c.id)
        # FOR NO KEY UPDATE: does not wait for transactions that are inserting deliveries to it.
        .with_for_update(key_share=True)
    ).all()
    changed: dict[str, Health] = {}
    for row in rows:
        health = health_after(row.failing_since, row.status, outcomes[row.id], now=now, schedule=schedule)
        if (health.failing_since, health.status) != (row.failing_since, row.status):
            changed[row.id] = health
        if health.disabled_since is not None:
            enqueue(
                session,
                ENDPOINT_DISABLED_JOB,
                {"webhook_endpoint": row.id, "url": row.url, "failing_since": health.disabled_since},
                now=now,
                unique_key=f"{ENDPOINT_DISABLED_JOB}:{row.id}:{now}",
            )
    if not changed:
        return
    session.execute(
        update(_endpoints)
        .where(_endpoints.c.id.in_(sorted(changed)))
        .values(
            failing_since=case(
                {id_: literal(h.failing_since, BigInteger) for id_, h in sorted(changed.items())},
                value=_endpoints.c.id,
            ),
            status=case(
                {id_: literal(h.status, String) for id_, h in sorted(changed.items())},
                value=_endpoints.c.id,
            ),
        )
    )


def record_attempt(
    session: Session, claimed: ClaimedDelivery, result: SendResult, *, now: int, schedule: list[int]
) -> WebhookAttempt | None:
    """Record attempt `claimed.number` alone, and settle or reschedule the delivery (the path for a
    batch that could not be recorded whole: each attempt on its own, in a savepoint).

    Returns None (and writes nothing) when that attempt is already recorded, or the delivery
    was deleted with its endpoint meanwhile.
    """
    delivery = session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.pk == claimed.pk).with_for_update()
    )
    if (
        delivery is None
        or delivery.status != DeliveryStatus.PENDING
        or delivery.attempt_count != claimed.number - 1
    ):
        return None
    outcome = settle(
        number=claimed.number, manual=delivery.manual, succeeded=result.succeeded, now=now, schedule=schedule
    )
    delivery.status = outcome.status
    delivery.attempt_count = claimed.number
    delivery.next_attempt_at = outcome.next_attempt_at
    delivery.locked_until = None
    attempt = WebhookAttempt(
        id=new_id("whatt"),
        created=result.started_at,
        delivery_pk=delivery.pk,
        delivery_id=delivery.id,
        number=claimed.number,
        event_id=delivery.event_id,
        endpoint_id=delivery.endpoint_id,
        manual=delivery.manual,
        succeeded=result.succeeded,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        response_excerpt=result.status_line,
        next_attempt_at=outcome.next_attempt_at,
    )
    session.add(attempt)
    if not delivery.manual:
        if result.succeeded:
            session.execute(
                update(Event)
                .where(Event.id == delivery.event_id, Event.pending_webhooks > 0)
                .values(pending_webhooks=Event.pending_webhooks - 1)
                .execution_options(synchronize_session=False)
            )
        _update_health(session, delivery.endpoint_id, succeeded=result.succeeded, now=now, schedule=schedule)
    session.flush()
    return attempt


def _update_health(
    session: Session, endpoint_id: str, *, succeeded: bool, now: int, schedule: list[int]
) -> None:
    # FOR NO KEY UPDATE: does not wait for transactions that are inserting deliveries to it.
    endpoint = session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update(key_share=True)
    )
    if endpoint is None:
        return
    if succeeded:
        endpoint.failing_since = None
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    if endpoint.status == EndpointStatus.ENABLED and failing_too_long(
        endpoint.failing_since, now=now, schedule=schedule
    ):
        endpoint.status = EndpointStatus.DISABLED
        enqueue(
            session,
            ENDPOINT_DISABLED_JOB,
            {"webhook_endpoint": endpoint.id, "url": endpoint.url, "failing_since": endpoint.failing_since},
            now=now,
            unique_key=f"{ENDPOINT_DISABLED_JOB}:{endpoint.id}:{now}",
        )


# --- the worker pass -----------------------------------------------------------------------


def _send(runtime: Runtime, claimed: ClaimedDelivery) -> tuple[ClaimedDelivery, SendResult]:
    started_at = runtime.clock.now()
    headers = request_headers(
        claimed.scheme,
        secret=claimed.secret,
        message_id=claimed.event_id,
        payload=claimed.payload,
        timestamp=started_at,
    )
    return claimed, send(
        claimed.url,
        payload=claimed.payload,
        headers=headers,
        started_at=started_at,
        allow_private=runtime.settings.webhook_allow_private,
    )


def _record_batch(runtime: Runtime, results: list[tuple[ClaimedDelivery, SendResult]]) -> None:
    """Record a batch's attempts in one transaction; should that fail, each attempt on its own (a
    savepoint each), so that one that cannot be recorded does not take the others with it."""
    now = runtime.clock.now()
    schedule = runtime.settings.webhook_retry_schedule
    with runtime.sessionmaker() as session:
        try:
            recorded = record_attempts(session, results, now=now, schedule=schedule)
            session.commit()
        except Exception:
            session.rollback()
            log.exception("recording a batch of %d attempts failed; recording them one by one", len(results))
        else:
            done = {claimed.pk for claimed in recorded}
            for claimed, _ in results:
                if claimed.pk not in done:
                    log.info("attempt %s of %s was already recorded", claimed.number, claimed.id)
            return
        for claimed, result in results:
            try:
                with session.begin_nested():
                    attempt = record_attempt(session, claimed, result, now=now, schedule=schedule)
            except Exception:
                log.exception("recording attempt %s of %s failed", claimed.number, claimed.id)
                continue
            if attempt is None:
                log.info("attempt %s of %s was already recorded", claimed.number, claimed.id)
        session.commit()


def _claim(runtime: Runtime, box: SecretBox, *, limit: int, due_by: int) -> Claim:
    with runtime.sessionmaker() as session:
        claimed = claim(session, now=runtime.clock.now(), limit=limit, box=box, due_by=due_by)
        session.commit()
    return claimed


def deliver_due(runtime: Runtime) -> int:
    """Send what was due when the pass began, with up to `BATCH` requests in flight: each time some
    come back, record them as one batch and claim what fits in their place. Stops claiming once
    nothing is left or after `PASS_SECONDS` (retries that fall due meanwhile wait for the next pass),
    and returns when all it sent is recorded: how many deliveries it handled."""
    box = SecretBox(runtime.settings.resolved_secret_key())
    began = runtime.clock.now()
    first = _claim(runtime, box, limit=BATCH, due_by=began)
    handled = first.abandoned
    if not first.deliveries:
        return handled
    stop_claiming_at = time.monotonic() + PASS_SECONDS
    claiming = not first.exhausted
    in_flight: set[Future[tuple[ClaimedDelivery, SendResult]]] = set()
    with ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="webhook") as pool:
        in_flight.update(pool.submit(_send, runtime, claimed) for claimed in first.deliveries)
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            in_flight -= done
            results = []
            for future in done:
                try:
                    results.append(future.result())
                except Exception:
                    # Not recorded: the lease expires and the attempt is made again.
                    log.exception("sending a webhook failed unexpectedly")
            if results:
                _record_batch(runtime, results)
                handled += len(results)
            if not claiming or time.monotonic() > stop_claiming_at:
                continue
            try:
                more = _claim(runtime, box, limit=BATCH - len(in_flight), due_by=began)
            except Exception:
                log.exception("claiming webhook deliveries failed; finishing those in flight")
                claiming = False
                continue
            claiming = not more.exhausted
            handled += more.abandoned
            in_flight.update(pool.submit(_send, runtime, claimed) for claimed in more.deliveries)
    return handled


register_periodic(deliver_due)
# The `operator.webhook_endpoint_disabled` job is handled by `tenure.notifications` (an email).
