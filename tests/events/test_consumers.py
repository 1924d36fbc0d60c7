"""The event log as outbox: consumers follow it after commit, once per event, in commit order."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.consumers import CONSUMERS, drain, lag
from tenure.events import consumers as log
from tenure.events.models import ConsumerCheckpoint, Event
from tenure.events.service import origin, record_event
from tenure.runtime import Runtime
from tenure.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenure.webhooks.service import queue_deliveries


class Recorder:
    """A consumer that remembers what it was given; it can be told to fail on an event."""

    def __init__(self, name: str = "recorder", types: frozenset[str] | None = None) -> None:
        self.seen: list[str] = []
        self.fail_on: set[str] = set()
        self.consumer = log.Consumer(name, self.handle, types)

    def handle(self, session: Session, events: Sequence[Event], now: int) -> None:
        # All or nothing, like the rows a real consumer writes in its batch's transaction.
        for event in events:
            if event.id in self.fail_on:
                raise RuntimeError(f"cannot handle {event.id}")
        self.seen += [event.id for event in events]


def _record(runtime: Runtime, count: int, *, type: str = "customer.created") -> list[str]:
    with runtime.sessionmaker() as session:
        events = [
            record_event(session, type=type, obj={"id": f"cus_{i}", "object": "customer"}, now=1)
            for i in range(count)
        ]
        session.commit()
        return [event.id for event in events if event is not None]


def _endpoint_for_every_event(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        session.add(
            WebhookEndpoint(
                id="we_1",
                created=1,
                url="http://127.0.0.1:9/hook",
                enabled_events=["*"],
                status="enabled",
                api_version=None,
                signature_scheme="stripe",
                secret_encrypted="x",
                metadata_={},
            )
        )
        session.commit()


def _drain(runtime: Runtime, *consumers: log.Consumer) -> int:
    return log.drain(runtime.sessionmaker, consumers, now=runtime.clock.now)


def test_recording_an_event_writes_the_event_and_nothing_else(runtime: Runtime) -> None:
    _endpoint_for_every_event(runtime)
    [event_id] = _record(runtime, 1)
    with runtime.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert lag(session)["webhooks"] == 1
    assert drain(runtime) == 1
    with runtime.sessionmaker() as session:
        assert session.scalars(select(WebhookDelivery.event_id)).all() == [event_id]
        assert session.scalar(select(Event.pending_webhooks).where(Event.id == event_id)) == 1
        assert lag(session) == {consumer.name: 0 for consumer in CONSUMERS}
    assert drain(runtime) == 0  # once per event


def test_each_consumer_sees_every_event_once_in_order_across_batches(runtime: Runtime) -> None:
    recorder = Recorder()
    ids = _record(runtime, 7)
    with runtime.sessionmaker() as session:
        handled, more = log.run_batch(session, recorder.consumer, now=1, limit=3)
        session.commit()
    assert (handled, more) == (3, True)
    ids += _record(runtime, 2)
    assert _drain(runtime, recorder.consumer) == 6
    assert recorder.seen == ids


def test_a_consumer_reads_only_its_types_and_moves_past_the_others(runtime: Runtime) -> None:
    recorder = Recorder(types=frozenset({"customer.deleted"}))
    _record(runtime, 3)
    wanted = _record(runtime, 1, type="customer.deleted")
    _record(runtime, 2)
    assert _drain(runtime, recorder.consumer) == 1
    assert recorder.seen == wanted
    with runtime.sessionmaker() as session:
        checkpoint = session.get(ConsumerCheckpoint, "recorder")
        assert checkpoint is not None
        assert checkpoint.pk == session.scalar(select(func.max(Event.pk)))


def test_a_crash_before_commit_leaves_the_events_to_handle_again(runtime: Runtime) -> None:
    recorder = Recorder()
    ids = _record(runtime, 3)
    with runtime.sessionmaker() as session:
        log.run_batch(session, recorder.consumer, now=1)
        session.rollback()  # the worker died before its commit
    recorder.seen.clear()
    assert _drain(runtime, recorder.consumer) == 3
    assert recorder.seen == ids


def test_an_event_that_keeps_failing_is_skipped_after_some_passes_and_others_go_on(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    first, bad, last = _record(runtime, 3)
    recorder.fail_on.add(bad)
    _drain(runtime, recorder.consumer)
    assert recorder.seen == [first]
    with runtime.sessionmaker() as session:
        checkpoint = session.get(ConsumerCheckpoint, "recorder")
        assert checkpoint is not None and checkpoint.failures == 1
        assert checkpoint.last_error is not None and checkpoint.last_error.startswith(bad)
    for _ in range(log.MAX_FAILURES - 1):
        _drain(runtime, recorder.consumer)
    assert f"skipped event {bad}" in caplog.text
    _drain(runtime, recorder.consumer)
    assert recorder.seen == [first, last]


def test_the_origin_of_a_change_is_stamped_on_its_events_only(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        with origin(session, source="portal", flow="flow_1", locale="fr"):
            inside = record_event(session, type="customer.created", obj={"id": "cus_1"}, now=1)
        outside = record_event(session, type="customer.created", obj={"id": "cus_2"}, now=1)
        session.commit()
        assert inside is not None and outside is not None
        assert inside.origin == {"source": "portal", "flow": "flow_1", "locale": "fr"}
        assert outside.origin is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_an_event_committed_late_is_not_left_behind(runtime: Runtime) -> None:
    """A transaction that recorded an event first but commits last: a checkpoint by `pk` alone
    would have moved past its event before it became visible."""
    recorder = Recorder()
    early = runtime.sessionmaker()
    try:
        early_event = record_event(early, type="customer.created", obj={"id": "cus_early"}, now=1)
        early.flush()
        [late_id] = _record(runtime, 1)
        assert early_event is not None
        assert early_event.pk < _pk(runtime, late_id)
        # The later event is committed, but an older transaction is still running: wait for it.
        assert _drain(runtime, recorder.consumer) == 0
        early.commit()
    finally:
        early.close()
    assert _drain(runtime, recorder.consumer) == 2
    assert recorder.seen == [early_event.id, late_id]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_two_workers_divide_the_consumers(runtime: Runtime) -> None:
    """While one worker holds a consumer's batch, another skips that consumer instead of waiting."""
    recorder = Recorder()
    assert _drain(runtime, recorder.consumer) == 0  # its checkpoint exists from here on
    _record(runtime, 2)
    holder = runtime.sessionmaker()
    try:
        assert log.run_batch(holder, recorder.consumer, now=1) == (2, False)
        assert _drain(runtime, recorder.consumer) == 0  # skipped: locked by the holder
        holder.commit()
    finally:
        holder.close()
    assert _drain(runtime, recorder.consumer) == 0
    assert len(recorder.seen) == 2


def _pk(runtime: Runtime, event_id: str) -> int:
    with runtime.sessionmaker() as session:
        pk = session.scalar(select(Event.pk).where(Event.id == event_id))
        assert pk is not None
        return pk


def test_the_webhooks_consumer_leaves_an_existing_delivery_as_it_is(runtime: Runtime) -> None:
    """Handling an event again (a store restored under a checkpoint) adds no second delivery."""
    _endpoint_for_every_event(runtime)
    [event_id] = _record(runtime, 1)
    drain(runtime)
    with runtime.sessionmaker() as session:
        event = session.scalar(select(Event).where(Event.id == event_id))
        assert event is not None
        queue_deliveries(session, [event], 1)
        session.commit()
        assert session.scalars(select(WebhookDelivery.event_id)).all() == [event_id]
