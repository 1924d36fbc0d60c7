"""A request's two phases on one store: a read phase (lookups before a write, pages that only read)
that never takes SQLite's write lock and refuses to write, and a write phase that waits for its
turn in the process's write queue, then `BEGIN IMMEDIATE`, and gives the turn back however its
transaction ends."""

from __future__ import annotations

import gc
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from contextlib import closing

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from tenure.customers.models import Customer
from tenure.db.engine import ReadPhaseWrite, WriteQueue, write_queue_of
from tenure.keys.models import ApiKey
from tenure.keys.service import create_key
from tenure.runtime import Runtime


def _count_keys(runtime: Runtime) -> int:
    with runtime.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(ApiKey)) or 0)


@pytest.fixture
def queue(runtime: Runtime) -> WriteQueue:
    """SQLite's write queue of this runtime's engine (PostgreSQL has none: it keeps MVCC)."""
    found = write_queue_of(runtime.engine)
    if runtime.database_kind != "sqlite":
        assert found is None
        pytest.skip("PostgreSQL writers do not queue")
    assert found is not None
    return found


@pytest.fixture
def sqlite_path(runtime: Runtime) -> str:
    database = make_url(runtime.settings.effective_database_url).database
    assert database
    return database


# -- the read phase ---------------------------------------------------------------------------------


def test_a_read_phase_refuses_orm_writes(runtime: Runtime) -> None:
    with runtime.read_session() as session, pytest.raises(ReadPhaseWrite):
        create_key(session, now=runtime.clock.now(), name="written in a read phase")
    assert _count_keys(runtime) == 0


def test_a_read_phase_refuses_update_and_delete_statements(runtime: Runtime) -> None:
    with runtime.sessionmaker() as session:
        create_key(session, now=runtime.clock.now(), name="kept")
        session.commit()
    with runtime.read_session() as session:
        with pytest.raises(ReadPhaseWrite):
            session.execute(update(Customer).values(name="renamed"))
        with pytest.raises(ReadPhaseWrite):
            session.execute(delete(ApiKey))
    assert _count_keys(runtime) == 1


def test_sqlite_refuses_what_gets_past_the_session(runtime: Runtime, queue: WriteQueue) -> None:
    """Raw SQL, which the session does not parse: SQLite's `query_only` (PostgreSQL's transactions
    stay as they were, locks `FOR UPDATE` included)."""
    with runtime.sessionmaker() as session:
        create_key(session, now=runtime.clock.now(), name="kept")
        session.commit()
    with runtime.read_session() as session, pytest.raises(DBAPIError):
        session.execute(text("DELETE FROM api_keys"))
    assert _count_keys(runtime) == 1


def test_a_read_phase_takes_no_write_turn(runtime: Runtime, queue: WriteQueue) -> None:
    with runtime.read_session() as session:
        session.scalar(select(func.count()).select_from(ApiKey))
        assert not queue.held
        with pytest.raises(ReadPhaseWrite):
            create_key(session, now=runtime.clock.now(), name="refused")
        assert not queue.held  # refused, not silently upgraded to a writer
    assert not queue.held


def test_a_read_phase_does_not_wait_for_a_writer(runtime: Runtime, queue: WriteQueue) -> None:
    """A writer holds the lock with a change not yet committed: a reader is served at once (WAL)
    and sees the store as of the last commit."""
    with runtime.sessionmaker() as writer:
        create_key(writer, now=runtime.clock.now(), name="not yet committed")
        assert queue.held
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(_count_keys(runtime)))
        reader.start()
        reader.join(30)
        assert seen == [0]
        writer.commit()
    assert _count_keys(runtime) == 1


def test_phases_alternate_on_one_connection(runtime: Runtime, queue: WriteQueue) -> None:
    """The pool hands the same connection to read and write phases in turn: each gets its mode."""
    for round_ in range(3):
        with runtime.read_session() as session, pytest.raises(DBAPIError):
            session.execute(text("DELETE FROM api_keys"))
        with runtime.sessionmaker() as session:
            create_key(session, now=runtime.clock.now(), name=f"round {round_}")
            session.commit()
    assert _count_keys(runtime) == 3


# -- the write phase's turn -------------------------------------------------------------------------


def test_a_write_phase_holds_its_turn_until_its_transaction_ends(runtime: Runtime, queue: WriteQueue) -> None:
    with runtime.sessionmaker() as session:
        assert not queue.held  # a session takes its turn at its first statement, not before
        session.execute(select(1))
        assert queue.held
        session.commit()
        assert not queue.held
        session.execute(select(1))
        assert queue.held
        session.rollback()
        assert not queue.held
        session.execute(select(1))
        assert queue.held
    assert not queue.held  # closed


def test_the_turn_is_given_back_when_a_write_fails(runtime: Runtime, queue: WriteQueue) -> None:
    with pytest.raises(RuntimeError), runtime.sessionmaker() as session:
        create_key(session, now=runtime.clock.now(), name="never committed")
        raise RuntimeError("the request failed")
    assert not queue.held
    assert _count_keys(runtime) == 0


def test_the_turn_is_given_back_when_the_connection_is_invalidated(
    runtime: Runtime, queue: WriteQueue
) -> None:
    with runtime.sessionmaker() as session:
        session.execute(select(1))
        assert queue.held
        session.connection().invalidate()
        assert not queue.held
    assert not queue.held


def test_the_turn_is_given_back_when_an_abandoned_session_is_collected(
    runtime: Runtime, queue: WriteQueue
) -> None:
    """A session nobody closes (a request cancelled between its statements and its close)."""

    def abandon() -> None:
        session = runtime.sessionmaker()
        session.execute(select(1))
        assert queue.held

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warns about the connection it had to clean up
        abandon()
        gc.collect()
    assert not queue.held


@pytest.fixture
def locked_elsewhere(sqlite_path: str) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock held by another process's connection (outside this process's queue)."""
    with closing(sqlite3.connect(sqlite_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("ROLLBACK")


def test_the_turn_is_given_back_when_begin_immediate_fails(
    runtime: Runtime, queue: WriteQueue, locked_elsewhere: sqlite3.Connection
) -> None:
    with runtime.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA busy_timeout=50")  # rather than the 30 s backstop
        with pytest.raises(OperationalError, match="locked"):
            connection.execute(select(1))
        assert not queue.held
        raw.execute("PRAGMA busy_timeout=30000")
    assert not queue.held


def test_a_read_phase_may_still_lock_rows_where_the_database_locks_rows(runtime: Runtime) -> None:
    """`FOR UPDATE` in a lookup (a cancel flow's) still works: PostgreSQL's transactions are unchanged."""
    with runtime.read_session() as session:
        assert list(session.scalars(select(ApiKey).with_for_update())) == []
