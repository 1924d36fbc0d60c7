"""Plain DB-API access for the floors: the same drivers Tenure uses (sqlite3, psycopg), no ORM."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg


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

    def __init__(self, url: str) -> None:
        self.kind, self.target = driver_url(url)
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

    def sql(self, statement: str) -> str:
        return statement if self.kind == "sqlite" else statement.replace("?", "%s")

    @contextmanager
    def transaction(self) -> Iterator[Runner]:
        connection = self.connection()
        if self.kind == "sqlite":
            connection.execute("BEGIN IMMEDIATE")
        runner = Runner(self, connection.cursor())
        try:
            yield runner
        except BaseException:
            connection.rollback() if self.kind == "postgresql" else connection.execute("ROLLBACK")
            raise
        connection.commit() if self.kind == "postgresql" else connection.execute("COMMIT")


class Runner:
    def __init__(self, database: Database, cursor: Any) -> None:
        self.database = database
        self.cursor = cursor

    def run(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self.cursor.execute(self.database.sql(statement), tuple(params))

    def one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self.run(statement, params)
        return self.cursor.fetchone()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        self.run(statement, params)
        return list(self.cursor.fetchall())

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(self.database.sql(statement), [tuple(row) for row in rows])
