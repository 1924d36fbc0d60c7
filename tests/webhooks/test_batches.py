"""Deliveries a batch at a time: attempts recorded with a fixed number of statements, the same rows
as one by one, each payload serialized once per claim, the next requests sent while others are in
flight, and connections kept alive from one request to the next.

Deliveries are written directly here (not by the event log's consumer), so that each test decides
exactly which exist; the worker pass is called as `deliver_due`, without the consumers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tenure.events.models import Event
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.jobs.models import Job
from tenure.runtime import Runtime
from tenure.webhooks import delivery
from tenure.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenure.webhooks.schemas import WebhookEndpointCreate
from tenure.webhooks.service import create_endpoint
from tenure.webhooks.signing import SecretBox

from .conftest import SCHEDULE, Receiver

BOX = SecretBox("test-secret")
NOW = 1_800_000_000


def _endpoint(session: Session, url: str, *, failing_since: int | None = None) -> WebhookEndpoint:
    endpoint, _ = create_endpoint(
        session,
        WebhookEndpointCreate(url=url, enabled_events=["*"]),
        box=BOX,
        now=NOW,
        allow_private=True,
    )
    endpoint.failing_since = failing_since
    session.flush()
    return endpoint


def _event(session: Session, index: int) -> Event:
    recorded = record_event(
        session,
        type="test_helpers.test_clock.created",
        obj={"id": f"clock_{index}", "object": "test_helpers.test_clock"},
        now=NOW,
    )
    assert recorded is not None
    session.flush()
    return recorded


def _delivery(
    session: Session, event: Event, endpoint: WebhookEndpoint, *, manual: bool = False, attempts: int = 0
) -> WebhookDelivery:
    """A delivery as the consumer (or a manual resend) writes it, due at once."""
    row = WebhookDelivery(
        id=new_id("whdel"),
        created=NOW,
        event_id=event.id,
        endpoint_id=endpoint.id,
        manual=manual,
        unique_key=None if manual else f"{event.id}/{endpoint.id}",
        status=DeliveryStatus.PENDING,
        attempt_count=attempts,
        next_attempt_at=0,
    )
    session.add(row)
    if not manual:
        event.pending_webhooks += 1
    session.flush()
    return row


def _claimed(row: WebhookDelivery, *, number: int | None = None) -> delivery.ClaimedDelivery:
    return delivery.ClaimedDelivery(
        pk=row.pk,
        id=row.id,
        number=row.attempt_count + 1 if number is None else number,
        event_id=row.event_id,
        endpoint_id=row.endpoint_id,
        manual=row.manual,
        url="http://127.0.0.1:9/",
        scheme="stripe",
        secret="whsec_test",
        payload=b"{}",
    )


def _answer(status: int | None, *, at: int = NOW) -> delivery.SendResult:
    if status is None:
        return delivery.SendResult(started_at=at, duration_ms=10_000, error="timeout")
    return delivery.SendResult(
        started_at=at, duration_ms=7, status_code=status, status_line=delivery.status_line(status)
    )


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block (BEGIN included)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


# --- statements per batch ------------------------------------------------------------------


def _mixed_batch(runtime: Runtime, size: int) -> list[tuple[delivery.ClaimedDelivery, delivery.SendResult]]:
    """`size` automatic deliveries over 4 fresh endpoints, one in four of them failed (so that the
    events' counts and the endpoints' health are both written)."""
    with runtime.sessionmaker() as session:
        endpoints = [_endpoint(session, f"http://127.0.0.1:9/{size}/{n}") for n in range(4)]
        rows = [_delivery(session, _event(session, n), endpoints[n % 4]) for n in range(size)]
        session.commit()
        return [(_claimed(row), _answer(500 if n % 4 == 3 else 200)) for n, row in enumerate(rows)]


def test_a_batch_is_recorded_with_a_few_statements_whatever_its_size(runtime: Runtime) -> None:
    counts = {}
    for size in (16, 4, 1):
        batch = _mixed_batch(runtime, size)
        with runtime.sessionmaker() as session, _statements(runtime.engine) as seen:
            recorded = delivery.record_attempts(session, batch, now=NOW, schedule=SCHEDULE)
            session.commit()
        assert len(recorded) == size
        counts[size] = len(seen)
    # UPDATE deliveries … RETURNING, INSERT attempts, UPDATE events, SELECT and UPDATE endpoints
    # (and SQLite's BEGIN IMMEDIATE); one fewer at size 1, where no endpoint's health changes.
    assert counts[16] == counts[4] <= 6
    assert counts[1] <= counts[4]
    with runtime.sessionmaker() as session:
        assert len(session.scalars(select(WebhookAttempt)).all()) == 21
        failing = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.failing_since.is_not(None)))
        assert {e.url.rsplit("/", 2)[-2] for e in failing} == {"16", "4"}


def test_an_attempt_already_recorded_or_deleted_is_left_out_of_the_batch(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        endpoint = _endpoint(session, "http://127.0.0.1:9/")
        gone = _endpoint(session, "http://127.0.0.1:9/gone")
        fresh, taken_over, deleted = (_delivery(session, _event(session, n), endpoint) for n in range(3))
        deleted.endpoint_id = gone.id
        session.commit()
        first = [(_claimed(taken_over), _answer(200))]
        assert delivery.record_attempts(session, first, now=NOW, schedule=SCHEDULE) == [_claimed(taken_over)]
        session.commit()
        session.delete(gone)
        session.commit()
    batch = [(_claimed(row), _answer(200)) for row in (fresh, taken_over, deleted)]
    with runtime.sessionmaker() as session:
        recorded = delivery.record_attempts(session, [*batch, batch[0]], now=NOW, schedule=SCHEDULE)
        session.commit()
        assert [c.pk for c in recorded] == [fresh.pk]
        numbers = session.execute(select(WebhookAttempt.delivery_pk, WebhookAttempt.number)).all()
        assert sorted(numbers) == sorted([(fresh.pk, 1), (taken_over.pk, 1)])


# --- the batch gives the rows one by one gives ---------------------------------------------


@dataclass(frozen=True)
class World:
    """Endpoints, events and deliveries named by label, and the batch of attempts to record."""

    labels: dict[str, str]
    batch: list[tuple[delivery.ClaimedDelivery, delivery.SendResult]]


def _world(session: Session, name: str) -> World:
    total = sum(SCHEDULE)
    endpoints = {
        # Failing for longer than the schedule: its first failure disables it (once), a success
        # clears `failing_since`, and the next failure starts a new run.
        "long_failing": _endpoint(session, f"http://{name}.test/a", failing_since=NOW - total - 5),
        "recovering": _endpoint(session, f"http://{name}.test/b", failing_since=NOW - 1),
        "healthy_then_failing": _endpoint(session, f"http://{name}.test/c"),
        "succeeding": _endpoint(session, f"http://{name}.test/d"),
        "manual_only": _endpoint(session, f"http://{name}.test/e", failing_since=NOW - total - 5),
    }
    events = [_event(session, n) for n in range(6)]
    plan: list[tuple[str, str, int, bool, int | None, int]] = [
        # (label, endpoint, event, manual, status, attempts already made)
        ("lf1", "long_failing", 0, False, 500, 0),
        ("lf2", "long_failing", 1, False, 200, 0),
        ("lf3", "long_failing", 2, False, None, 1),
        ("rc1", "recovering", 0, False, 200, 2),
        ("hf1", "healthy_then_failing", 1, False, 200, 0),
        ("hf2", "healthy_then_failing", 2, False, 503, 3),  # the schedule is spent: failed
        ("sc1", "succeeding", 0, False, 200, 0),  # event 0 delivered three times in the batch
        ("sc2", "succeeding", 3, False, 200, 0),
        ("mo1", "manual_only", 4, True, 500, 0),
        ("mo2", "manual_only", 5, True, 200, 0),
        ("sc3", "succeeding", 5, False, 200, 0),
        ("stale", "succeeding", 4, False, 200, 1),  # its attempt 1 is recorded already
    ]
    labels = {endpoint.id: label for label, endpoint in endpoints.items()}
    labels.update({e.id: f"evt{n}" for n, e in enumerate(events)})
    batch = []
    for label, endpoint, event_index, manual, status, attempts in plan:
        row = _delivery(session, events[event_index], endpoints[endpoint], manual=manual, attempts=attempts)
        labels[row.id] = label
        number = attempts if label == "stale" else attempts + 1
        batch.append((_claimed(row, number=number), _answer(status, at=NOW - 3)))
    session.commit()
    return World(labels, batch)


def _snapshot(session: Session, world: World) -> dict[str, Any]:
    named = world.labels

    def mine(rows: Any, key: str) -> list[Any]:
        return [row for row in rows if getattr(row, key) in named]

    return {
        "endpoints": sorted(
            (named[e.id], e.status, e.failing_since)
            for e in mine(session.scalars(select(WebhookEndpoint)), "id")
        ),
        "events": sorted(
            (named[e.id], e.pending_webhooks) for e in mine(session.scalars(select(Event)), "id")
        ),
        "deliveries": sorted(
            (named[d.id], d.status, d.attempt_count, d.next_attempt_at, d.locked_until)
            for d in mine(session.scalars(select(WebhookDelivery)), "id")
        ),
        "attempts": sorted(
            (
                named[a.delivery_id],
                named[a.event_id],
                named[a.endpoint_id],
                a.number,
                a.created,
                a.manual,
                a.succeeded,
                a.status_code,
                a.error,
                a.duration_ms,
                a.response_excerpt,
                a.next_attempt_at,
            )
            for a in mine(session.scalars(select(WebhookAttempt)), "delivery_id")
        ),
        "jobs": sorted(
            (
                j.kind,
                named[j.payload["webhook_endpoint"]],
                j.payload["url"].split(".test")[1],
                j.payload["failing_since"],
            )
            for j in session.scalars(select(Job))
            if j.payload.get("webhook_endpoint") in named
        ),
    }


def test_a_batch_gives_the_rows_that_recording_one_by_one_gives(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        batched, one_by_one = _world(session, "batched"), _world(session, "single")
    with runtime.sessionmaker() as session:
        recorded = delivery.record_attempts(session, batched.batch, now=NOW, schedule=SCHEDULE)
        session.commit()
    with runtime.sessionmaker() as session:
        singly = []
        for claimed, result in one_by_one.batch:
            with session.begin_nested():
                if delivery.record_attempt(session, claimed, result, now=NOW, schedule=SCHEDULE):
                    singly.append(claimed)
        session.commit()
    assert [batched.labels[c.id] for c in recorded] == [one_by_one.labels[c.id] for c in singly]
    assert len(recorded) == len(batched.batch) - 1
    with runtime.sessionmaker() as session:
        expected = _snapshot(session, one_by_one)
        assert _snapshot(session, batched) == expected
    # What the rules say, besides both paths agreeing.
    assert ("long_failing", "disabled", NOW) in expected["endpoints"]
    assert ("healthy_then_failing", "enabled", NOW) in expected["endpoints"]
    assert ("recovering", "enabled", None) in expected["endpoints"]
    assert ("manual_only", "enabled", NOW - sum(SCHEDULE) - 5) in expected["endpoints"]
    assert expected["jobs"] == [
        (delivery.ENDPOINT_DISABLED_JOB, "long_failing", "/a", NOW - sum(SCHEDULE) - 5)
    ]
    assert dict(expected["events"])["evt0"] == 1  # two of its three deliveries succeeded at once
    assert ("hf2", DeliveryStatus.FAILED, 4, None, None) in expected["deliveries"]


def test_health_rules() -> None:
    schedule = [1, 1, 1]
    assert delivery.health_after(
        None, "enabled", [False, True], now=10, schedule=schedule
    ) == delivery.Health(None, "enabled")
    assert delivery.health_after(5, "enabled", [True, False], now=10, schedule=schedule) == delivery.Health(
        10, "enabled"
    )
    assert delivery.health_after(5, "enabled", [False, True], now=10, schedule=schedule) == delivery.Health(
        None, "disabled", disabled_since=5
    )
    assert delivery.health_after(5, "disabled", [False], now=10, schedule=schedule) == delivery.Health(
        5, "disabled"
    )
    assert delivery.settle(number=1, manual=True, succeeded=False, now=10, schedule=schedule) == (
        delivery.Settled(DeliveryStatus.FAILED, None)
    )
    assert delivery.settle(number=3, manual=False, succeeded=False, now=10, schedule=schedule) == (
        delivery.Settled(DeliveryStatus.PENDING, 11)
    )
    assert delivery.settle(number=4, manual=False, succeeded=False, now=10, schedule=schedule) == (
        delivery.Settled(DeliveryStatus.FAILED, None)
    )


# --- claim ---------------------------------------------------------------------------------


def test_a_payload_going_to_three_endpoints_is_serialized_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with runtime.sessionmaker() as session:
        endpoints = [_endpoint(session, f"http://127.0.0.1:9/{n}") for n in range(3)]
        shared = _event(session, 0)
        for endpoint in endpoints:
            _delivery(session, shared, endpoint)
        other = _event(session, 1)
        _delivery(session, other, endpoints[0])
        session.commit()
    serialized: list[str] = []
    real = delivery.event_payload

    def counting(event: Event) -> bytes:
        serialized.append(event.id)
        return real(event)

    monkeypatch.setattr(delivery, "event_payload", counting)
    with runtime.sessionmaker() as session:
        claimed = delivery.claim(session, now=runtime.clock.now(), limit=10, box=BOX).deliveries
        session.commit()
    assert len(claimed) == 4
    assert sorted(serialized) == sorted([shared.id, other.id])
    payloads = {c.payload for c in claimed if c.event_id == shared.id}
    assert len(payloads) == 1 and b'"clock_0"' in payloads.pop()


def test_a_claim_leases_with_a_few_statements_whatever_its_size(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        endpoints = [_endpoint(session, f"http://127.0.0.1:9/{n}") for n in range(4)]
        for n in range(40):
            _delivery(session, _event(session, n), endpoints[n % 4])
        session.commit()
    counts = []
    for _ in range(2):
        with runtime.sessionmaker() as session, _statements(runtime.engine) as seen:
            claimed = delivery.claim(session, now=runtime.clock.now(), limit=16, box=BOX).deliveries
            session.commit()
        assert len(claimed) == 16
        counts.append(len(seen))
        with runtime.sessionmaker() as session:
            delivery.record_attempts(
                session, [(c, _answer(200)) for c in claimed], now=NOW, schedule=SCHEDULE
            )
            session.commit()
    # Lock (PostgreSQL) or BEGIN (SQLite), what is due, in flight, the endpoints, one lease per
    # endpoint, the events.
    assert counts[0] == counts[1] <= 5 + 4


# --- the pass ------------------------------------------------------------------------------


@pytest.fixture
def fast() -> Iterator[Receiver]:
    running = Receiver(keep_alive=True)
    yield running
    running.close()


def test_the_next_deliveries_go_out_while_a_slow_one_is_in_flight(
    runtime: Runtime, receiver: Receiver, fast: Receiver
) -> None:
    receiver.delay = 1.5
    fast.delay = 0.02
    count = 3 * delivery.MAX_IN_FLIGHT_PER_ENDPOINT + 1
    with runtime.sessionmaker() as session:
        slow_endpoint = _endpoint(session, receiver.url)
        fast_endpoint = _endpoint(session, fast.url)
        _delivery(session, _event(session, 0), slow_endpoint)
        for n in range(count):
            _delivery(session, _event(session, n + 1), fast_endpoint)
        session.commit()

    assert delivery.deliver_due(runtime) == count + 1

    [slow] = receiver.snapshot()
    quick = fast.snapshot()
    assert len(quick) == count
    assert max(r.at for r in quick) < slow.at  # none of them waited for the slow one
    assert 1 <= fast.peak_in_flight <= delivery.MAX_IN_FLIGHT_PER_ENDPOINT
    with runtime.sessionmaker() as session:
        assert {d.status for d in session.scalars(select(WebhookDelivery))} == {DeliveryStatus.SUCCEEDED}
        assert len(session.scalars(select(WebhookAttempt)).all()) == count + 1


def test_requests_to_one_origin_share_a_kept_alive_connection(fast: Receiver) -> None:
    for n in range(5):  # to the paths of one origin, as several endpoints may share it
        result = delivery.send(
            f"{fast.url}/{n}", payload=b"{}", headers={}, started_at=NOW, allow_private=True
        )
        assert result.status_code == 200
    assert len({r.port for r in fast.snapshot()}) == 1


def test_one_pass_bounds_what_it_has_in_flight(runtime: Runtime, fast: Receiver) -> None:
    """`BATCH` at most, however many endpoints have deliveries due."""
    fast.delay = 0.05
    with runtime.sessionmaker() as session:
        endpoints = [_endpoint(session, f"{fast.url}/{n}") for n in range(8)]
        for n in range(48):
            _delivery(session, _event(session, n), endpoints[n % 8])
        session.commit()
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, fast.in_flight)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert delivery.deliver_due(runtime) == 48
    finally:
        stop.set()
        watcher.join()
    assert len(fast.snapshot()) == 48
    assert max(peak, fast.peak_in_flight) <= delivery.BATCH
