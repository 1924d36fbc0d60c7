"""The read-only SQL console (the Sigma role): SELECT over documented views, nothing else.

SQLite: a read-only connection whose temp views shadow the tables, and an authorizer that allows
SELECT and reads through those views only (no ATTACH, PRAGMA, writes, DDL or secret tables).
PostgreSQL: a read-only transaction on a connection that logs in as the `tenure_insights` role
(see pg_login.py), which can read only the views of the `insights` schema. Both: one statement,
a row cap, a time limit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tenure.api.errors import InvalidRequest
from tenure.insights.pg_login import console_engine
from tenure.insights.sql_views import SQLITE_VIEWS, UNDERLYING_TABLES, VIEW_NAMES
from tenure.runtime import Runtime

ROW_CAP = 1000
TIMEOUT_SECONDS = 10.0
MAX_QUERY_LENGTH = 20_000


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "insights.sql_result",
            "columns": self.columns,
            "rows": [[_json_value(value) for value in row] for row in self.rows],
            "truncated": self.truncated,
        }


def _json_value(value: Any) -> Any:
    """PostgreSQL hands NUMERIC columns (e.g. `percent_off`) back as Decimal: JSON has numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class QueryRefused(InvalidRequest):
    code = "sql_refused"


_ALLOWED_FUNCTIONS_DENY = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})


def _authorizer(
    main_tables: frozenset[str],
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer for a console connection whose store holds `main_tables`."""

    def decide(
        action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
    ) -> int:
        if action == sqlite3.SQLITE_SELECT:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # Allowed: a console view's own columns (in `temp`), the reads a console view makes
            # (source = the view), and `count(*)`'s column-less read of a table behind a view.
            if (dbname == "temp" and arg1 in VIEW_NAMES) or source in VIEW_NAMES:
                return sqlite3.SQLITE_OK
            if arg2 == "" and arg1 in UNDERLYING_TABLES:
                return sqlite3.SQLITE_OK
            # A common table expression or subquery: anything that is not a stored table.
            if dbname in (None, "temp") and arg1 not in main_tables and arg1 not in VIEW_NAMES:
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            return (
                sqlite3.SQLITE_DENY if (arg2 or "").lower() in _ALLOWED_FUNCTIONS_DENY else sqlite3.SQLITE_OK
            )
        if action == getattr(sqlite3, "SQLITE_RECURSIVE", 33):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return decide


def _check(query: str) -> str:
    stripped = query.strip().rstrip(";").strip()
    if not stripped:
        raise QueryRefused("The query is empty.", param="query")
    if len(stripped) > MAX_QUERY_LENGTH:
        raise QueryRefused(f"Queries are limited to {MAX_QUERY_LENGTH} characters.", param="query")
    return stripped


def _sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def run_sqlite(runtime: Runtime, query: str, *, row_cap: int, timeout: float) -> SqlResult:
    connection = sqlite3.connect(
        f"file:{_sqlite_path(runtime.settings.effective_database_url)}?mode=ro",
        uri=True,
        timeout=5,
        check_same_thread=False,
    )
    try:
        main_tables = frozenset(
            row[0] for row in connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        )
        for name, body in SQLITE_VIEWS.items():
            connection.execute(f"CREATE TEMP VIEW {name} AS {body}")
        connection.set_authorizer(_authorizer(main_tables))
        deadline = time.monotonic() + timeout
        connection.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            cursor = connection.execute(query)
            rows = cursor.fetchmany(row_cap + 1)
        except sqlite3.DatabaseError as exc:
            if "interrupted" in str(exc):
                raise QueryRefused(
                    f"The query ran longer than {timeout:g} s and was stopped.",
                    param="query",
                    code="sql_timeout",
                ) from None
            if any(sign in str(exc) for sign in ("not authorized", "prohibited", "it is a view", "readonly")):
                raise QueryRefused(
                    "Only SELECT over the documented views is allowed (no writes, DDL, ATTACH, PRAGMA "
                    "or other tables).",
                    param="query",
                ) from None
            raise QueryRefused(f"SQL error: {exc}", param="query") from None
        except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:
            raise QueryRefused(f"One statement at a time: {exc}", param="query") from None
        columns = [description[0] for description in cursor.description or []]
        return SqlResult(
            columns=columns, rows=[list(row) for row in rows[:row_cap]], truncated=len(rows) > row_cap
        )
    finally:
        connection.close()


def run_postgres(runtime: Runtime, query: str, *, row_cap: int, timeout: float) -> SqlResult:
    engine = console_engine(runtime)
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            connection.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            connection.execute(text("SET LOCAL search_path = insights"))
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection)
            cursor = raw.cursor()
            try:
                # A prepared statement holds exactly one command; no bind-parameter parsing of the text.
                cursor.execute(query, prepare=True)
                rows = cursor.fetchmany(row_cap + 1)
                columns = [str(d[0]) for d in cursor.description or []]
            finally:
                cursor.close()
        except DBAPIError as exc:
            raise _pg_refusal(exc.orig, timeout) from None
        except Exception as exc:
            if exc.__class__.__module__.startswith("psycopg"):
                raise _pg_refusal(exc, timeout) from None
            raise
        finally:
            with contextlib.suppress(DBAPIError):
                # Nothing to keep; a query that ended its own session leaves nothing to roll back.
                transaction.rollback()
    engine.dispose()
    return SqlResult(
        columns=columns, rows=[list(row) for row in rows[:row_cap]], truncated=len(rows) > row_cap
    )


def _pg_refusal(error: BaseException | None, timeout: float) -> QueryRefused:
    message = str(error).strip().splitlines()[0] if error else "error"
    if "statement timeout" in message or "canceling statement" in message:
        return QueryRefused(
            f"The query ran longer than {timeout:g} s and was stopped.", param="query", code="sql_timeout"
        )
    if "permission denied" in message or "read-only transaction" in message:
        return QueryRefused(
            "Only SELECT over the documented views is allowed (no writes, DDL or other tables).",
            param="query",
        )
    if "multiple commands" in message:
        return QueryRefused("One statement at a time.", param="query")
    return QueryRefused(f"SQL error: {message}", param="query")


def run_query(
    runtime: Runtime, query: str, *, row_cap: int = ROW_CAP, timeout: float = TIMEOUT_SECONDS
) -> SqlResult:
    stripped = _check(query)
    if runtime.database_kind == "postgresql":
        return run_postgres(runtime, stripped, row_cap=row_cap, timeout=timeout)
    return run_sqlite(runtime, stripped, row_cap=row_cap, timeout=timeout)
