"""Following the event log after commit: each consumer reads the events after its checkpoint, in
commit order, and handles a batch in one transaction together with moving its checkpoint.

A crash anywhere leaves the checkpoint where the last committed batch put it, so each event is
handled exactly once per consumer, however often a worker dies. On PostgreSQL, workers divide the
consumers between them (a consumer's checkpoint row is locked `FOR UPDATE SKIP LOCKED` while a
batch runs) and read only events of transactions older than every one still running (`events.tx`
below the snapshot's xmin), so that an event committed late never lands behind a checkpoint. On
SQLite one writer at a time makes `pk` order the commit order.

An event that makes a handler fail is retried, alone, on the next passes; after `MAX_FAILURES`
passes it is logged as skipped and the consumer moves on, so one bad event cannot stop webhooks.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from tenure.events.models import ConsumerCheckpoint, Event

log = logging.getLogger(__name__)

BATCH = 500
MAX_FAILURES = 5

Handler = Callable[[Session, Sequence[Event], int], None]


@dataclass(frozen=True)
class Consumer:
    """`handle(session, events, now)` gets the events of `types` (all if None) in commit order; it
    writes what they call for in the session and must not commit."""

    name: str
    handle: Handler
    types: frozenset[str] | None = None


@dataclass(frozen=True)
class _Position:
    tx: int
    pk: int

    @classmethod
    def of(cls, checkpoint: ConsumerCheckpoint | None) -> _Position:
        return cls(checkpoint.tx, checkpoint.pk) if checkpoint is not None else cls(0, 0)


def _wanted(readable: Select[Event], consumer: Consumer) -> Select[Event]:
    return readable if consumer.types is None else readable.where(Event.type.in_(consumer.types))


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _checkpoint(session: Session, name: str, *, now: int) -> ConsumerCheckpoint | None:
    """The consumer's checkpoint, locked for this transaction; None when another worker holds it."""
    stmt = select(ConsumerCheckpoint).where(ConsumerCheckpoint.name == name)
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    checkpoint = session.scalar(stmt)
    if checkpoint is not None:
        return checkpoint
    if _postgres(session):
        if session.scalar(select(ConsumerCheckpoint.name).where(ConsumerCheckpoint.name == name)):
            return None  # another worker holds it
        # Missing (a consumer newer than the store's migrations): created from the start of the log.
        session.execute(
            pg_insert(ConsumerCheckpoint)
            .values(name=name, tx=0, pk=0, failures=0, updated_at=now)
            .on_conflict_do_nothing()
        )
        return session.scalar(stmt)
    checkpoint = ConsumerCheckpoint(name=name, tx=0, pk=0, failures=0, updated_at=now)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _after(session: Session, position: _Position) -> Select[Event]:
    """Events after `position` that every consumer may read now, in commit order."""
    if _postgres(session):
        xmin = session.scalar(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
        return (
            select(Event)
            .where(tuple_(Event.tx, Event.pk) > tuple_(position.tx, position.pk), Event.tx < xmin)
            .order_by(Event.tx, Event.pk)
        )
    return select(Event).where(Event.pk > position.pk).order_by(Event.pk)


def _horizon(session: Session, readable: Select[Event]) -> _Position | None:
    """The newest event a consumer may read now, whatever its type."""
    sub = readable.order_by(None).with_only_columns(Event.tx, Event.pk).subquery()
    if _postgres(session):
        row = session.execute(
            select(sub.c.tx, sub.c.pk).order_by(sub.c.tx.desc(), sub.c.pk.desc()).limit(1)
        ).first()
        return None if row is None else _Position(int(row.tx), int(row.pk))
    newest = session.scalar(select(func.max(sub.c.pk)))
    return None if newest is None else _Position(0, int(newest))


def run_batch(session: Session, consumer: Consumer, *, now: int, limit: int = BATCH) -> tuple[int, bool]:
    """Handle the next batch of `consumer`'s events in `session` and move its checkpoint (the caller
    commits). Returns (events handled, whether more may be waiting)."""
    checkpoint = _checkpoint(session, consumer.name, now=now)
    if checkpoint is None:
        return 0, False
    position = _Position.of(checkpoint)
    readable = _after(session, position)
    events = list(session.scalars(_wanted(readable, consumer).limit(limit)))
    if len(events) == limit:
        last = events[-1]
        end: _Position | None = _Position(last.tx or 0, last.pk)
    else:
        end = _horizon(session, readable)
    if events:
        consumer.handle(session, events, now)
    if end is not None and end != position:
        checkpoint.tx, checkpoint.pk = end.tx, end.pk
        checkpoint.failures, checkpoint.last_error = 0, None
        checkpoint.updated_at = now
    session.flush()
    return len(events), len(events) == limit


def _first_pending(session: Session, consumer: Consumer) -> Event | None:
    checkpoint = _checkpoint(session, consumer.name, now=0)
    if checkpoint is None:
        return None
    return session.scalar(_wanted(_after(session, _Position.of(checkpoint)), consumer).limit(1))


def _isolate_failure(maker: sessionmaker[Session], consumer: Consumer, *, now: int) -> None:
    """After a batch failed: handle its events one at a time up to the one that fails alone; count
    a failure against that one, and skip it once it has failed `MAX_FAILURES` times."""
    error = ""
    for _ in range(BATCH):
        with maker() as session:
            try:
                handled, _more = run_batch(session, consumer, now=now, limit=1)
                session.commit()
            except Exception:
                session.rollback()
                error = traceback.format_exc()[-4000:]
                break
        if not handled:
            return
    else:
        return
    with maker() as session:
        checkpoint = _checkpoint(session, consumer.name, now=now)
        event = _first_pending(session, consumer)
        if checkpoint is None or event is None:
            return
        checkpoint.failures += 1
        checkpoint.last_error = f"{event.id}: {error}"
        checkpoint.updated_at = now
        if checkpoint.failures >= MAX_FAILURES:
            log.error(
                "consumer %s skipped event %s (%s) after %d failures",
                consumer.name,
                event.id,
                event.type,
                checkpoint.failures,
            )
            checkpoint.tx, checkpoint.pk = event.tx or 0, event.pk
            checkpoint.failures = 0
        session.commit()


def drain(maker: sessionmaker[Session], consumers: Sequence[Consumer], *, now: Callable[[], int]) -> int:
    """Run every consumer until it has caught up with the log (or fails); returns events handled."""
    handled = 0
    for consumer in consumers:
        while True:
            with maker() as session:
                try:
                    count, more = run_batch(session, consumer, now=now())
                    session.commit()
                except Exception:
                    session.rollback()
                    log.exception("consumer %s failed on a batch; retrying it event by event", consumer.name)
                    _isolate_failure(maker, consumer, now=now())
                    break
            handled += count
            if not more:
                break
    return handled


def _unread(session: Session, consumer: Consumer) -> Select[Event]:
    """The events `consumer` wants past its checkpoint, as far as it may read now."""
    return _wanted(_after(session, _Position.of(session.get(ConsumerCheckpoint, consumer.name))), consumer)


def waiting(session: Session, consumers: Sequence[Consumer]) -> list[Consumer]:
    """The consumers with at least one event to read: one small read each, no lock, so that an idle
    pass (the embedded worker's, the tests' app's) takes no turn at SQLite's write lock."""
    found = []
    for consumer in consumers:
        if session.scalar(_unread(session, consumer).with_only_columns(Event.pk).limit(1)) is not None:
            found.append(consumer)
    return found


def lag(session: Session, consumers: Sequence[Consumer]) -> dict[str, int]:
    """How many events each consumer has yet to read (for `tenure check --settled`)."""
    behind: dict[str, int] = {}
    for consumer in consumers:
        wanted = _unread(session, consumer).subquery()
        behind[consumer.name] = int(session.scalar(select(func.count()).select_from(wanted)) or 0)
    return behind
