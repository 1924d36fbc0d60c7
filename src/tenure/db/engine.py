"""Engines for the embedded SQLite store and for PostgreSQL, and the two phases of a transaction.

SQLite lets one connection write at a time (docs/deploy.md, "SQLite: one writer at a time"), so each
transaction says which phase it is in, by the session it runs in:

- a **read phase** (`make_read_sessionmaker`, `Runtime.read_session()`): the lookups that come before a
  request's writes, and pages that only read. A plain deferred `BEGIN` with `PRAGMA query_only` on:
  it never takes the write lock (WAL readers block no one) and cannot write.
- a **write phase** (every other session): the process's `WriteQueue` first, in arrival order, then
  the `ProcessGate` that the processes sharing the file take turns at, then `BEGIN IMMEDIATE`, so the
  lock is taken up front and a read-then-write transaction can never fail upgrading its lock. The
  turn is given back the moment the transaction ends, however it ends.

PostgreSQL keeps MVCC and its behaviour: no queue, and a read phase is an ordinary transaction (some
lookups lock rows `FOR UPDATE`, which a `READ ONLY` one would refuse); the session refuses to write.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import sqlite3
import threading
import weakref
from collections import deque
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from tenure.db.jsoncodec import dumps_text

log = logging.getLogger(__name__)

SQLITE_POOL_SIZE = 32
SQLITE_BUSY_TIMEOUT_SECONDS = 30  # the backstop for writers other than Tenure's processes
DEFAULT_WRITE_QUEUE_MAX = 64  # above a server process's 40 request threads (docs/deploy.md)
DEFAULT_WRITE_WAIT_SECONDS = 5.0
# The execution option that marks a read phase's connections.
READ_PHASE = "tenure_read_phase"


class WriteQueueBusy(Exception):
    """No turn to write: too many writers wait, or this one waited its longest. Raised before the
    transaction began, so nothing was written and the same request can simply be sent again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ReadPhaseWrite(RuntimeError):
    """A read-phase session was asked to write: the code must open the write phase for that."""


class ProcessGate:
    """The turns of the processes that write one SQLite file (server processes, the worker, `tenure`
    commands): an exclusive `flock` on a file beside the database, taken by the holder of each
    process's turn and let go when its transaction ends. A process waiting for it sleeps in the
    kernel and is woken the moment it is let go, so the processes take turns; in SQLite's busy
    handler the first of each process's queue would poll with sleeps of up to 100 ms, and miss the
    lock while another process hands it on from writer to writer.

    A file of its own: opening and closing the database file itself would drop SQLite's locks on it.
    The descriptor is opened for each turn and closed to let go: none stays open between turns. Where
    the file cannot be made (a read-only directory), writers fall back on SQLite's busy handler."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._warned = False

    def lock(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "no write gate at %s (%s): SQLite's busy handler orders the processes", self.path, exc
                )
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # sleeps without the GIL until the other process lets go
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def unlock(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # lets go of the lock


class WriteQueue:
    """This process's turns at SQLite's write lock: one holder; the others wait in arrival order, and
    each released turn is handed to the first of them (never up for grabs, as in SQLite's busy
    handler, which polls with growing sleeps and serves no one in order). With a `gate`, the holder
    then waits for the other processes' turns to end before it has the lock, and lets go of the gate
    before the next writer of this process has its turn.

    At most `max_waiting` wait, each at most `max_wait_seconds`; past either, `WriteQueueBusy` at
    once. A turn belongs to a transaction, not to a thread: whoever ends it gives it back."""

    def __init__(self, *, max_waiting: int, max_wait_seconds: float, gate: ProcessGate | None = None) -> None:
        self.max_waiting = max_waiting
        self.max_wait_seconds = max_wait_seconds
        self.gate = gate
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()  # each waiter blocks on its own locked lock

    @property
    def held(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self) -> None:
        self._take_turn()
        if self.gate is not None:
            try:
                self.gate.lock()
            except BaseException:
                self._hand_on()
                raise

    def release(self) -> None:
        try:
            if self.gate is not None:
                self.gate.unlock()
        finally:
            self._hand_on()

    def _take_turn(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            if len(self._waiters) >= self.max_waiting:
                raise self._busy(f"{len(self._waiters)} writes are waiting already")
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=self.max_wait_seconds):
            return
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                raise self._busy(f"no turn to write came within {self.max_wait_seconds:g} s")
        # Handed over just as the wait ran out: the turn is ours after all.

    def _hand_on(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("released a write turn that nobody holds")
            if self._waiters:
                self._waiters.popleft().release()  # the first waiter holds the turn from now on
            else:
                self._held = False

    def _busy(self, why: str) -> WriteQueueBusy:
        seconds = max(1, math.ceil(self.max_wait_seconds))
        return WriteQueueBusy(
            f"The database is busy with other writes ({why}); nothing was changed. "
            f"Please retry the request in {seconds} second{'s' if seconds > 1 else ''}.",
            retry_after=seconds,
        )


class SqliteConnection(sqlite3.Connection):
    """pysqlite's connection, knowing its phase, and giving its write turn back as soon as its
    transaction ends: commit, rollback, close (the pool's invalidation) or garbage collection."""

    query_only = False
    _turn: WriteQueue | None = None

    def use_query_only(self, on: bool) -> None:
        if self.query_only != on:
            self.execute(f"PRAGMA query_only={'ON' if on else 'OFF'}")
            self.query_only = on

    def hold_turn(self, queue: WriteQueue) -> None:
        self._turn = queue

    def give_turn_back(self) -> None:
        queue, self._turn = self._turn, None
        if queue is not None:
            queue.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self._in_transaction():  # a failed COMMIT keeps it until the rollback that follows
                self.give_turn_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if not self._in_transaction():
                self.give_turn_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_turn_back()

    def __del__(self) -> None:
        self.give_turn_back()

    def _in_transaction(self) -> bool:
        try:
            return self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False


_QUEUES: weakref.WeakKeyDictionary[Engine, WriteQueue] = weakref.WeakKeyDictionary()


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    write_queue_max: int = DEFAULT_WRITE_QUEUE_MAX,
    write_wait_seconds: float = DEFAULT_WRITE_WAIT_SECONDS,
) -> Engine:
    if url.startswith("sqlite"):
        # One connection per request thread (the server runs up to 40) plus the worker's: a smaller
        # pool makes requests wait for a connection rather than for their turn to write.
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                "factory": SqliteConnection,
            },
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        database = make_url(url).database
        on_disk = (
            database is not None and database not in ("", ":memory:") and not database.startswith("file:")
        )
        gate = ProcessGate(f"{database}.write-lock") if on_disk else None
        queue = WriteQueue(max_waiting=write_queue_max, max_wait_seconds=write_wait_seconds, gate=gate)
        _configure_sqlite(engine, queue)
        _QUEUES[engine] = queue
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, json_serializer=dumps_text
    )


def write_queue_of(engine: Engine) -> WriteQueue | None:
    """The queue of an SQLite engine's writers in this process (None on PostgreSQL)."""
    return _QUEUES.get(engine)


def _configure_sqlite(engine: Engine, queue: WriteQueue) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself (below) instead of pysqlite's implicit transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, SqliteConnection)
        if connection.get_execution_options().get(READ_PHASE):
            raw.use_query_only(True)
            connection.exec_driver_sql("BEGIN")
            return
        raw.use_query_only(False)
        queue.acquire()  # WriteQueueBusy: refused before anything began
        raw.hold_turn(queue)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            raw.give_turn_back()
            raise


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for the write phase (on SQLite, a turn in the write queue at their first statement)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def make_read_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for a read phase. They refuse to write: the session before any SQL is sent (flushes,
    INSERT/UPDATE/DELETE statements), and on SQLite the database too (`query_only`) for raw SQL."""
    factory = sessionmaker(
        engine.execution_options(**{READ_PHASE: True}), expire_on_commit=False, autoflush=True
    )
    event.listen(factory, "before_flush", _refuse_flush)
    event.listen(factory, "do_orm_execute", _refuse_statement)
    return factory


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    raise ReadPhaseWrite(
        "A read-phase session has changes to flush: make them in a write-phase session "
        "(runtime.sessionmaker()), which re-reads under the write lock what they depend on."
    )


def _refuse_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadPhaseWrite("A read-phase session was given an INSERT, UPDATE or DELETE statement.")


def database_kind(engine: Engine) -> str:
    return engine.dialect.name
