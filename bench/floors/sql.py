"""Plain DB-API access for the floors: the same drivers Tenure uses (sqlite3, psycopg), no ORM; and
the one rule every floor writing events shares, Tenure's `webhooks` consumer's."""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

# Called with each statement sent, as the driver gets it, and the number of rows of an executemany
# (None for a single execute): `python -m bench --explain` prints the floors' SQL with it.
Trace = Callable[[str, int | None], None]
_ALPHABET = string.ascii_letters + string.digits


def driver_url(url: str) -> tuple[str, str]:
    """("sqlite", path) or ("postgresql", conninfo) from a SQLAlchemy-style URL."""
    if url.startswith("sqlite"):
        return "sqlite", url.split(":///", 1)[1]
    return "postgresql", url.replace("postgresql+psycopg://", "postgresql://", 1)


class Database:
    """One connection per thread; `transaction()` yields a cursor-like `run(sql, params)`.

    Statements are written with `?` placeholders and rewritten to `%s` for psycopg. SQLite
    transactions start with BEGIN IMMEDIATE, as Tenure's do.
    """

    def __init__(self, url: str, *, trace: Trace | None = None) -> None:
        self.kind, self.target = driver_url(url)
        self.trace = trace
        self._local = threading.local()

    def connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self.kind == "sqlite":
                connection = sqlite3.connect(self.target, timeout=30, check_same_thread=False)
                connection.isolation_level = None
                for pragma in (
                    "journal_mode=WAL",
                    "foreign_keys=ON",
                    "busy_timeout=30000",
                    "synchronous=NORMAL",
                ):
                    connection.execute(f"PRAGMA {pragma}")
            else:
                connection = psycopg.connect(self.target)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        """Close this thread's connection (the floor app keeps its connections for its lifetime)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def sql(self, statement: str) -> str:
        return statement if self.kind == "sqlite" else statement.replace("?", "%s")

    def note(self, statement: str, rows: int | None = None) -> None:
        if self.trace is not None:
            self.trace(statement, rows)

    @property
    def current_transaction(self) -> str:
        """The SQL that fills `events.tx` as Tenure's column default does (NULL on SQLite)."""
        return "pg_current_xact_id()::text::bigint" if self.kind == "postgresql" else "NULL"

    def begin(self, connection: Any) -> None:
        if self.kind == "sqlite":
            self.note("BEGIN IMMEDIATE")
            connection.execute("BEGIN IMMEDIATE")
        else:
            self.note("BEGIN")  # sent by psycopg before the transaction's first statement

    def commit(self, connection: Any) -> None:
        self.note("COMMIT")
        connection.commit() if self.kind == "postgresql" else connection.execute("COMMIT")

    def rollback(self, connection: Any) -> None:
        self.note("ROLLBACK")
        connection.rollback() if self.kind == "postgresql" else connection.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[Runner]:
        connection = self.connection()
        self.begin(connection)
        runner = Runner(self, connection.cursor())
        try:
            yield runner
        except BaseException:
            self.rollback(connection)
            raise
        self.commit(connection)


class Runner:
    def __init__(self, database: Database, cursor: Any) -> None:
        self.database = database
        self.cursor = cursor

    def run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        sql = self.database.sql(statement)
        self.database.note(sql)
        return self.cursor.execute(sql, tuple(params))

    def one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self.run(statement, params)
        return self.cursor.fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        self.run(statement, params)
        return list(self.cursor.fetchall())

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        sql = self.database.sql(statement)
        self.database.note(sql, len(rows))
        self.cursor.executemany(sql, rows)


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


# --- webhook deliveries, as Tenure's `webhooks` consumer writes them (tenure.webhooks.service) ---

Endpoints = list[tuple[str, list[str]]]
INSERT_DELIVERIES = (
    "INSERT INTO webhook_deliveries (event_id, endpoint_id, manual, unique_key, status, attempt_count, "
    "next_attempt_at, id, created, livemode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def enabled_endpoints(run: Runner) -> Endpoints:
    """Each enabled endpoint's id and `enabled_events` (JSON: text on SQLite, decoded by psycopg
    unless the connection reads it as text)."""
    rows = run.all("SELECT id, enabled_events FROM webhook_endpoints WHERE status = ?", ("enabled",))
    return [(row[0], list((json.loads(row[1]) if isinstance(row[1], str) else row[1]) or [])) for row in rows]


def _matches(pattern: str, event_type: str) -> bool:
    """tenure.events.types.matches: `*`, `prefix.*` or the exact type."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def deliveries(
    endpoints: Endpoints, *, event_id: str, event_type: str, created: int
) -> list[tuple[Any, ...]]:
    """The event's deliveries (rows for INSERT_DELIVERIES): one per endpoint that wants it, due at once;
    their number is the event's `pending_webhooks`."""
    return [
        (
            event_id,
            endpoint_id,
            False,
            f"{event_id}/{endpoint_id}",
            "pending",
            0,
            0,
            new_id("whdel"),
            created,
            False,
        )
        for endpoint_id, patterns in endpoints
        if any(_matches(pattern, event_type) for pattern in patterns)
    ]
