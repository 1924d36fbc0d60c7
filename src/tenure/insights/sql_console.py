"""The read-only SQL console (the Sigma role): SELECT over documented views, nothing else.

SQLite: a read-only connection whose temp views shadow the tables, and an authorizer that allows
SELECT and reads through those views only (no ATTACH, PRAGMA, writes, DDL or secret tables).
PostgreSQL: a read-only transaction on a connection that logs in as the `tenure_insights` role
(see pg_login.py), which can read only the views of the `insights` schema. Both: one statement,
a row cap, a time limit, and bounds in bytes on each value and on the whole result, so that no
query makes the server hold more than a few megabytes; queries run a few at a time on threads of
their own (`ConsolePool`), so slow ones cannot take the threads the rest of the server needs.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tenure.api.errors import InvalidRequest, RateLimited, TenureError
from tenure.config import Settings
from tenure.insights.pg_login import console_engine
from tenure.insights.sql_views import SQLITE_VIEWS, UNDERLYING_TABLES, VIEW_NAMES
from tenure.runtime import Runtime

ROW_CAP = 1000
MAX_QUERY_LENGTH = 20_000
# How long past its time limit a caller still waits for the answer (PostgreSQL's own cancellation
# arrives within it). SQLite can be inside one long function call then, which nothing interrupts:
# the caller is answered anyway, and the query keeps its thread until the call returns.
GRACE_SECONDS = 0.5
# The longest LIKE/GLOB pattern (SQLite's default is 50,000): matching costs pattern × value length
# in one step that the time limit cannot interrupt.
LIKE_PATTERN_LIMIT = 1000
# PostgreSQL memory for each sort or hash of a console query before it spills to temporary files
# (bounded by the role's temp_file_limit, see pg_login.py).
WORK_MEM = "8MB"
ONLY_SELECT = (
    "Only SELECT over the documented views is allowed (no writes, DDL, ATTACH, PRAGMA or other tables)."
)
ONLY_SELECT_PG = "Only SELECT over the documented views is allowed (no writes, DDL or other tables)."
T = TypeVar("T")


@dataclass(frozen=True)
class ConsoleLimits:
    timeout: float
    max_value_bytes: int
    max_result_bytes: int
    workers: int
    queue: int

    @classmethod
    def of(cls, settings: Settings, *, timeout: float | None = None) -> ConsoleLimits:
        return cls(
            timeout=timeout if timeout is not None else settings.sql_console_timeout_seconds,
            max_value_bytes=settings.sql_console_max_value_bytes,
            max_result_bytes=settings.sql_console_max_result_bytes,
            workers=settings.sql_console_workers,
            queue=settings.sql_console_queue,
        )

    @property
    def value_size(self) -> str:
        return _size(self.max_value_bytes)

    @property
    def result_size(self) -> str:
        return _size(self.max_result_bytes)


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
    """PostgreSQL hands NUMERIC columns (e.g. `percent_off`) back as Decimal: JSON has numbers.
    Blobs (bytea) are shown as PostgreSQL shows them, in hex."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return value


def _value_bytes(value: Any) -> int:
    """About what a value weighs in the answer."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return 2 * len(value) + 2
    return 8


def _size(limit: int) -> str:
    if limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


class QueryRefused(InvalidRequest):
    code = "sql_refused"


class ConsoleBusy(RateLimited):
    code = "sql_console_busy"


def _timed_out(timeout: float) -> QueryRefused:
    return QueryRefused(
        f"The query ran longer than {timeout:g} s and was stopped.", param="query", code="sql_timeout"
    )


def _too_large(what: Literal["value", "result"], limits: ConsoleLimits) -> QueryRefused:
    if what == "value":
        message = (
            f"The query makes a value larger than {limits.value_size}, the console's limit "
            "for one value: select a part of it (substr) or fewer rows into one aggregate."
        )
    else:
        message = (
            f"The result is larger than {limits.result_size}, the console's limit for one "
            "answer: select fewer rows (WHERE, LIMIT) or fewer columns."
        )
    return QueryRefused(message, param="query", code="sql_too_large")


class ConsolePool:
    """Console queries on threads of their own: `workers` run at once, `queue` more wait (each at most
    its time limit), and a caller beyond those is answered "busy" at once. The server's request
    threads waiting here are never more than workers + queue, so slow queries cannot starve it."""

    def __init__(self, *, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sql-console")
        self._places = threading.BoundedSemaphore(workers + queue)
        self._workers, self._queue = workers, queue

    def run(self, task: Callable[[], T], *, timeout: float) -> T:
        """`task`'s result; busy when no place is free or none frees up within `timeout`; a timeout
        error once `task` has run `timeout` seconds (plus a grace), even if it is still running."""
        if not self._places.acquire(blocking=False):
            raise self._busy()
        started = threading.Event()

        def job() -> T:
            started.set()
            return task()

        try:
            future = self._executor.submit(job)
        except BaseException:
            self._places.release()
            raise
        # The place is given back when the task ends, not when its caller stops waiting.
        future.add_done_callback(lambda _done: self._places.release())
        if not started.wait(timeout) and future.cancel():
            raise self._busy()
        try:
            return future.result(timeout=timeout + GRACE_SECONDS)
        except TimeoutError:
            raise _timed_out(timeout) from None

    def _busy(self) -> ConsoleBusy:
        return ConsoleBusy(
            f"The SQL console is busy ({self._workers} queries at a time, {self._queue} waiting): "
            "try again in a few seconds."
        )


@functools.cache
def _pool(workers: int, queue: int) -> ConsolePool:
    """One pool per server process: the threads and memory it protects are the process's."""
    return ConsolePool(workers=workers, queue=queue)


_DENIED_FUNCTIONS = frozenset(
    {
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        # Values of a size given by an argument, made in one step the time limit cannot interrupt
        # (printf('%.*c', 2000000000, 'x') loops for seconds even when the value is refused).
        "randomblob",
        "zeroblob",
        "printf",
        "format",
    }
)


def _authorizer(
    main_tables: frozenset[str], refused_functions: list[str]
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """An authorizer for a console connection whose store holds `main_tables`; the functions it
    refuses are added to `refused_functions`, for the error message."""

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
            name = (arg2 or "").lower()
            if name in _DENIED_FUNCTIONS:
                refused_functions.append(name)
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
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
    if "\x00" in stripped:
        # libpq ends a statement at a NUL: what it parsed alone would not be what runs wrapped.
        raise QueryRefused("The query contains a NUL character.", param="query")
    return stripped


def _take(
    rows: Iterable[Sequence[Any]], *, row_cap: int, limits: ConsoleLimits
) -> tuple[list[list[Any]], bool]:
    """At most `row_cap` rows, read one at a time, and whether there were more; refused as soon as
    the rows read pass the result's size limit (never cut short silently)."""
    taken: list[list[Any]] = []
    weight = 0
    for row in rows:
        if len(taken) == row_cap:
            return taken, True
        weight += sum(_value_bytes(value) for value in row)
        if weight > limits.max_result_bytes:
            raise _too_large("result", limits)
        taken.append(list(row))
    return taken, False


def _sqlite_path(url: str) -> str:
    return url.split("sqlite:///", 1)[1]


def _bound_sqlite(connection: sqlite3.Connection, limits: ConsoleLimits) -> None:
    """No value (nor row being sorted) larger than the value limit: randomblob, replace, group_concat…
    fail at once with "string or blob too big" instead of building hundreds of megabytes."""
    connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes)
    connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 4 * MAX_QUERY_LENGTH)  # UTF-8 characters
    connection.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, LIKE_PATTERN_LIMIT)


def run_sqlite(runtime: Runtime, query: str, *, row_cap: int, limits: ConsoleLimits) -> SqlResult:
    connection = sqlite3.connect(
        f"file:{_sqlite_path(runtime.settings.effective_database_url)}?mode=ro",
        uri=True,
        timeout=5,
        check_same_thread=False,
    )
    try:
        # Big sorts and DISTINCTs spill to disk, not memory. Set first: changing it drops temp views.
        connection.execute("PRAGMA temp_store = FILE")
        main_tables = frozenset(
            row[0] for row in connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        )
        for name, body in SQLITE_VIEWS.items():
            connection.execute(f"CREATE TEMP VIEW {name} AS {body}")
        _bound_sqlite(connection, limits)
        refused_functions: list[str] = []
        connection.set_authorizer(_authorizer(main_tables, refused_functions))
        deadline = time.monotonic() + limits.timeout
        connection.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            cursor = connection.execute(query)
            columns = [description[0] for description in cursor.description or []]
            rows, truncated = _take(cursor, row_cap=row_cap, limits=limits)
        except sqlite3.DatabaseError as exc:
            raise _sqlite_refusal(str(exc), refused_functions, limits) from None
        except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:
            raise QueryRefused(f"One statement at a time: {exc}", param="query") from None
        return SqlResult(columns=columns, rows=rows, truncated=truncated)
    finally:
        connection.close()


def _sqlite_refusal(message: str, refused_functions: list[str], limits: ConsoleLimits) -> QueryRefused:
    if "interrupted" in message:
        return _timed_out(limits.timeout)
    if "too big" in message:
        return _too_large("value", limits)
    if refused_functions:
        return QueryRefused(
            f"{refused_functions[0]}() is not available in the console: it makes values of any size.",
            param="query",
        )
    if any(sign in message for sign in ("not authorized", "prohibited", "it is a view", "readonly")):
        return QueryRefused(ONLY_SELECT, param="query")
    return QueryRefused(f"SQL error: {message}", param="query")


# The guard's error says which limit a row passed; PostgreSQL has no RAISE in plain SQL, so the guard
# casts this text (with a size, so that it is not folded into an error at planning time) to integer.
_GUARD = "tenure_console_limit:"


def _pg_bounded(query: str, width: int, *, row_cap: int, limits: ConsoleLimits) -> str:
    """The query, its `width` columns measured by PostgreSQL row by row: it fails at the first value
    over the value limit, or once the rows so far pass the result limit, so that an oversized answer
    never leaves the database. One more column, the guard (always NULL), comes last.

    The query is only ever wrapped once it parsed alone as one statement (`_pg_columns`): then it
    closes every parenthesis, quote and comment it opens, and cannot reach out of the wrapper."""
    # OFFSET 0 keeps the query a subquery of its own: merged into the outer one, a value it computes
    # would be computed again for each place that reads it (a huge constant, once per use).
    fenced = f"(SELECT * FROM (\n{query}\n) AS console_query OFFSET 0)"
    if width == 0:
        return f"SELECT console_row.*, NULL::integer FROM {fenced} AS console_row LIMIT {row_cap + 1}"
    names = [f"c{index}" for index in range(width)]
    # Measured inline, not in a subquery of their own: that would copy each value once more.
    sizes = [f"octet_length(console_row.{name}::text)::bigint" for name in names]
    largest = f"greatest({', '.join(sizes)})"
    row = " + ".join(f"coalesce({size}, 0)" for size in sizes)
    so_far = "sum(console_size.row) OVER (ROWS UNBOUNDED PRECEDING)"
    # Each value is measured (and refused) before the window that adds the rows up: the window keeps
    # the rows it has seen, and must never be handed a huge one.
    return (
        f"SELECT console_row.*, CASE WHEN {so_far} > {limits.max_result_bytes} "
        f"THEN CAST('{_GUARD}result ' || {so_far} AS integer) END "
        f"FROM {fenced} AS console_row({', '.join(names)}), LATERAL ("
        f"SELECT CASE WHEN {largest} > {limits.max_value_bytes} "
        f"THEN CAST('{_GUARD}value ' || {largest} AS integer) ELSE {row} END AS row OFFSET 0"
        f") AS console_size LIMIT {row_cap + 1}"
    )


def _pg_columns(raw: psycopg.Connection[Any], query: str, limits: ConsoleLimits) -> list[str]:
    """The query's column names, from parsing it alone as one statement (without running it)."""
    encoding = raw.info.encoding

    def checked(result: pq.abc.PGresult) -> pq.abc.PGresult:
        if result.status != pq.ExecStatus.COMMAND_OK:
            message = (result.error_message or b"").decode(encoding, "replace").removeprefix("ERROR:")
            sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE) or b""
            raise _pg_refusal(message, sqlstate.decode(), limits)
        return result

    checked(raw.pgconn.prepare(b"", query.encode(encoding)))  # the unnamed statement
    described = checked(raw.pgconn.describe_prepared(b""))
    return [(described.fname(index) or b"").decode(encoding) for index in range(described.nfields)]


def run_postgres(runtime: Runtime, query: str, *, row_cap: int, limits: ConsoleLimits) -> SqlResult:
    engine = console_engine(runtime)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text("SET TRANSACTION READ ONLY"))
                connection.execute(text(f"SET LOCAL statement_timeout = {int(limits.timeout * 1000)}"))
                connection.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                connection.execute(text("SET LOCAL search_path = insights"))
                raw = connection.connection.driver_connection
                assert isinstance(raw, psycopg.Connection)
                columns = _pg_columns(raw, query, limits)
                cursor = raw.cursor()
                try:
                    try:
                        # A prepared statement holds exactly one command; no bind-parameter parsing.
                        cursor.execute(
                            _pg_bounded(query, len(columns), row_cap=row_cap, limits=limits), prepare=True
                        )
                    except (psycopg.errors.SyntaxError, psycopg.errors.FeatureNotSupported):
                        # It parsed alone, but not as a subquery: not a query at all (SET, BEGIN,
                        # INSERT … RETURNING, a data-modifying WITH).
                        raise QueryRefused(ONLY_SELECT_PG, param="query") from None
                    rows, truncated = _take((row[:-1] for row in cursor), row_cap=row_cap, limits=limits)
                finally:
                    cursor.close()
            except DBAPIError as exc:
                raise _pg_error_refusal(exc.orig, limits) from None
            except psycopg.Error as exc:
                raise _pg_error_refusal(exc, limits) from None
            finally:
                with contextlib.suppress(DBAPIError, psycopg.Error):
                    # Nothing to keep; a query that ended its own session leaves nothing to roll back.
                    transaction.rollback()
    finally:
        engine.dispose()
    return SqlResult(columns=columns, rows=rows, truncated=truncated)


def _pg_error_refusal(error: BaseException | None, limits: ConsoleLimits) -> TenureError:
    sqlstate = getattr(error, "sqlstate", None) or ""
    return _pg_refusal(str(error) if error else "error", sqlstate, limits)


def _pg_refusal(message: str, sqlstate: str, limits: ConsoleLimits) -> TenureError:
    message = message.strip().splitlines()[0] if message.strip() else "error"
    if _GUARD in message:
        return _too_large("value" if f"{_GUARD}value" in message else "result", limits)
    if "statement timeout" in message or "canceling statement" in message:
        return _timed_out(limits.timeout)
    # Program limits (a value over PostgreSQL's own 1 GB), out of memory, temp_file_limit.
    if sqlstate.startswith("54") or sqlstate in ("53200", "53400"):
        return QueryRefused(
            f"The query needs more memory or disk than the console allows: {message}",
            param="query",
            code="sql_too_large",
        )
    if "permission denied" in message or "read-only transaction" in message:
        return QueryRefused(ONLY_SELECT_PG, param="query")
    if "multiple commands" in message:
        return QueryRefused("One statement at a time.", param="query")
    return QueryRefused(f"SQL error: {message}", param="query")


def run_query(
    runtime: Runtime, query: str, *, row_cap: int = ROW_CAP, timeout: float | None = None
) -> SqlResult:
    """One console query, on the console's pool, within its limits (the settings' `sql_console_*`)."""
    stripped = _check(query)
    limits = ConsoleLimits.of(runtime.settings, timeout=timeout)
    run = run_postgres if runtime.database_kind == "postgresql" else run_sqlite
    pool = _pool(limits.workers, limits.queue)
    return pool.run(lambda: run(runtime, stripped, row_cap=row_cap, limits=limits), timeout=limits.timeout)
