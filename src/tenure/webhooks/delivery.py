"""The delivery worker: claim due deliveries, POST them signed, record each attempt exactly once.

A pass claims a batch (a lease on each delivery, committed before any request goes out), sends
the batch concurrently, then records its attempts in one transaction (a savepoint each). A crash
between send and record leaves the lease to expire and the attempt is sent again (at-least-once),
but it is
recorded at most once: the record re-reads the delivery under a row lock and writes attempt
number N only while the delivery still has N - 1 recorded, and `(delivery, number)` is unique.
Leases outlast the request timeout, so a live worker's attempt is never taken over.

Requests go only to public addresses unless `webhook_allow_private` is set (see `egress`), and of the
answer only its status line is kept: a URL pointing inside the network must not read anything back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
from sqlalchemy import func, or_, select, update
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
BATCH = 16
# Read (and dropped) of an answer's body, so that its connection can serve the next request.
DRAIN_BYTES = 4096
STATUS_LINE_CHARS = 100
ENDPOINT_DISABLED_JOB = "operator.webhook_endpoint_disabled"
# Serializes claims across PostgreSQL workers so that in-flight counts per endpoint are exact.
_CLAIM_LOCK = 0x7465_6E75_7265_7768


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


def _due(now: int) -> list[Any]:
    return [
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
    ]


def claim(session: Session, *, now: int, limit: int, box: SecretBox) -> Claim:
    """Lease up to `limit` due deliveries, at most `MAX_IN_FLIGHT_PER_ENDPOINT` per endpoint.

    Automatic deliveries to a disabled endpoint are abandoned (marked failed), as Stripe stops
    retrying them; manual resends still go out. Commit right after, then send.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(select(func.pg_advisory_xact_lock(_CLAIM_LOCK)))
    waiting = session.execute(
        select(WebhookDelivery.endpoint_id, func.min(WebhookDelivery.next_attempt_at))
        .where(*_due(now))
        .group_by(WebhookDelivery.endpoint_id)
    ).all()
    if not waiting:
        return Claim([], 0)
    endpoint_ids = [row[0] for row in sorted(waiting, key=lambda row: (row[1], row[0]))]
    in_flight: dict[str, int] = {
        endpoint_id: count
        for endpoint_id, count in session.execute(
            select(WebhookDelivery.endpoint_id, func.count())
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.endpoint_id.in_(endpoint_ids),
                WebhookDelivery.locked_until >= now,
            )
            .group_by(WebhookDelivery.endpoint_id)
        )
    }
    endpoints = {
        endpoint.id: endpoint
        for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)))
    }
    abandoned = 0
    leased: list[tuple[WebhookDelivery, WebhookEndpoint, str]] = []
    for endpoint_id in endpoint_ids:
        endpoint = endpoints.get(endpoint_id)
        if endpoint is None:
            continue
        disabled = endpoint.status != EndpointStatus.ENABLED
        if disabled:
            abandoned += _abandon(session, endpoint_id, now=now)
        room = min(MAX_IN_FLIGHT_PER_ENDPOINT - in_flight.get(endpoint_id, 0), limit - len(leased))
        if room <= 0:
            continue
        try:
            secret = box.decrypt(endpoint.secret_encrypted)
        except ValueError:
            log.error(
                "webhook endpoint %s: its secret cannot be decrypted (secret key changed?)", endpoint_id
            )
            continue
        stmt = (
            select(WebhookDelivery)
            .where(*_due(now), WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.pk)
            .limit(room)
        )
        if disabled:
            stmt = stmt.where(WebhookDelivery.manual.is_(True))
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        for delivery in session.scalars(stmt):
            delivery.locked_until = now + LEASE_SECONDS
            leased.append((delivery, endpoint, secret))
        if len(leased) >= limit:
            break
    session.flush()
    events = {
        event.id: event
        for event in session.scalars(select(Event).where(Event.id.in_({d.event_id for d, _, _ in leased})))
    }
    claimed = [
        ClaimedDelivery(
            pk=delivery.pk,
            id=delivery.id,
            number=delivery.attempt_count + 1,
            event_id=delivery.event_id,
            endpoint_id=endpoint.id,
            manual=delivery.manual,
            url=endpoint.url,
            scheme=endpoint.signature_scheme,
            secret=secret,
            payload=event_payload(events[delivery.event_id]),
        )
        for delivery, endpoint, secret in leased
    ]
    return Claim(claimed, abandoned)


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
    """One client per worker process (and policy): its connection pool and TLS context are reused
    across deliveries (building an SSL context per request cost more than the request itself)."""
    with _client_lock:
        client = _clients.get(allow_private)
        if client is None:
            limits = httpx.Limits(max_connections=BATCH * 2, max_keepalive_connections=BATCH)
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
    duration_ms = int((time.monotonic() - began) * 1000)
    return SendResult(
        started_at=started_at,
        duration_ms=duration_ms,
        status_code=status_code,
        error=error,
        status_line=None if status_code is None else status_line(status_code),
    )


# --- record --------------------------------------------------------------------------------


def record_attempt(
    session: Session, claimed: ClaimedDelivery, result: SendResult, *, now: int, schedule: list[int]
) -> WebhookAttempt | None:
    """Record attempt `claimed.number` and settle or reschedule the delivery.

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
    retry_at = None
    if result.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
    elif not delivery.manual:
        retry_at = next_attempt_at(schedule, attempts_made=claimed.number, now=now)
    if not result.succeeded and retry_at is None:
        delivery.status = DeliveryStatus.FAILED
    delivery.attempt_count = claimed.number
    delivery.next_attempt_at = retry_at
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
        next_attempt_at=retry_at,
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
    """Record a batch's attempts in one transaction (one commit, not one per delivery); each in its
    own savepoint, so that one that cannot be recorded does not take the others with it."""
    with runtime.sessionmaker() as session:
        for claimed, result in results:
            try:
                with session.begin_nested():
                    recorded = record_attempt(
                        session,
                        claimed,
                        result,
                        now=runtime.clock.now(),
                        schedule=runtime.settings.webhook_retry_schedule,
                    )
            except Exception:
                log.exception("recording attempt %s of %s failed", claimed.number, claimed.id)
                continue
            if recorded is None:
                log.info("attempt %s of %s was already recorded", claimed.number, claimed.id)
        session.commit()


def deliver_due(runtime: Runtime) -> int:
    """One batch: claim, send concurrently, record. Returns how many deliveries it handled."""
    box = SecretBox(runtime.settings.resolved_secret_key())
    with runtime.sessionmaker() as session:
        batch = claim(session, now=runtime.clock.now(), limit=BATCH, box=box)
        session.commit()
    if batch.deliveries:
        with ThreadPoolExecutor(max_workers=len(batch.deliveries), thread_name_prefix="webhook") as pool:
            results = list(pool.map(lambda claimed: _send(runtime, claimed), batch.deliveries))
        _record_batch(runtime, results)
    return len(batch.deliveries) + batch.abandoned


register_periodic(deliver_due)
# The `operator.webhook_endpoint_disabled` job is handled by `tenure.notifications` (an email).
