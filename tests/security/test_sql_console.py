"""The SQL console's escapes, on SQLite and PostgreSQL: writes, DDL, several statements, other
tables, files, extensions, roles and settings are all refused with a 400 naming `query`, and
leave the database as it was. No view shows a secret: every row of every view is read and
compared with every secret and hash the store holds. A query cannot make the server allocate
gigabytes (issue #15), and slow queries cannot starve the rest of the server.
"""

from __future__ import annotations

import resource
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tenure.dashboard.models import StaffSession
from tenure.insights.sql_console import run_query
from tenure.insights.sql_views import VIEW_NAMES
from tenure.keys.models import ApiKey
from tenure.portal.models import PortalSession
from tenure.runtime import Runtime
from tenure.staff.models import StaffUser
from tenure.webhooks.models import WebhookEndpoint
from tests.security.conftest import World, changed_tables, snapshot

ESCAPES = [
    # Writes and DDL, directly, through a CTE, or after a first statement.
    "INSERT INTO customers (id) VALUES ('cus_x')",
    "UPDATE subscriptions SET status = 'active'",
    "DELETE FROM invoices",
    "DROP VIEW customers",
    "CREATE TEMP TABLE t (x int)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
    "SELECT 1; DELETE FROM customers",
    "SELECT 1; SELECT 2",
    "SELECT 1\x00) AS q, (SELECT 1",
    "BEGIN",
    "SAVEPOINT s",
    "PREPARE p AS SELECT 1",
    "DO $$ BEGIN PERFORM 1; END $$",
    # Other tables, however they are named or reached.
    "SELECT * FROM api_keys",
    'SELECT * FROM "api_keys"',
    "SELECT * FROM main.api_keys",
    "SELECT * FROM public.api_keys",
    "SELECT secret_hash FROM public.api_keys",
    "SELECT password_hash FROM staff_users",
    "SELECT * FROM public.staff_sessions",
    "SELECT * FROM public.webhook_endpoints",
    "SELECT * FROM public.portal_sessions",
    "SELECT * FROM idempotency_records",
    "WITH k AS (SELECT * FROM api_keys) SELECT * FROM k",
    "SELECT (SELECT secret_hash FROM main.api_keys LIMIT 1)",
    "SELECT c.id FROM customers c JOIN public.staff_users s ON true",
    "SELECT query_to_xml('select * from public.api_keys', true, false, '')",
    "SELECT nextval('public.api_keys_pk_seq')",
    # The engine's own catalogues, files, programs and extensions.
    "SELECT name FROM sqlite_master",
    "SELECT * FROM sqlite_schema",
    "SELECT * FROM pragma_table_info('api_keys')",
    "SELECT * FROM pragma_database_list",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE ':memory:' AS other",
    "VACUUM INTO '/tmp/tenure-console-copy.db'",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT writefile('/tmp/tenure-console.txt', 'x')",
    "SELECT rolname, rolpassword FROM pg_authid",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT pg_ls_dir('.')",
    "SELECT lo_import('/etc/hostname')",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "COPY customers TO STDOUT",
    "SELECT pg_terminate_backend(pg_backend_pid())",
    # Roles and settings.
    "SET ROLE postgres",
    "RESET ROLE",
    "SET search_path = public",
    "SET SESSION AUTHORIZATION DEFAULT",
]
# Known escape (PostgreSQL only): see test_the_role_cannot_be_switched_back below.
ROLE_ESCAPE = (
    "SELECT set_config('role', 'none', true) AS role, "
    "query_to_xml('select secret_hash from public.api_keys', true, false, '') AS keys"
)


def test_every_escape_is_refused_and_changes_nothing(world: World, runtime: Runtime) -> None:
    before = snapshot(runtime)
    problems = []
    for query in ESCAPES:
        answer = world.api.post("/v1/insights/sql", data={"query": query})
        if answer.status_code != 400 or answer.json()["error"]["param"] != "query":
            problems.append(f"{query!r}: {answer.status_code} {answer.text[:200]}")
    assert not problems, "\n".join(problems)
    assert not changed_tables(before, snapshot(runtime))
    # The console itself still works.
    assert (
        world.api.post("/v1/insights/sql", data={"query": "SELECT count(*) FROM customers"}).status_code
        == 200
    )


def stored_secrets(runtime: Runtime) -> list[str]:
    """Every secret-bearing value in the store: hashes, sealed secrets, tokens."""
    with runtime.sessionmaker() as session:
        found = list(session.scalars(select(ApiKey.secret_hash)))
        found += list(session.scalars(select(StaffUser.password_hash)))
        found += list(session.scalars(select(StaffSession.token_hash)))
        found += [v for v in session.scalars(select(PortalSession.url_secret_hash)) if v]
        found += [v for v in session.scalars(select(PortalSession.browser_token_hash)) if v]
        found += [str(v) for v in session.scalars(select(WebhookEndpoint.secret_encrypted)) if v]
    return found


def test_no_view_shows_a_secret(world: World, runtime: Runtime) -> None:
    assert world.admin and world.analyst  # staff accounts and sessions exist
    webhook = world.business.post(
        "/v1/webhook_endpoints", url="https://hooks.example/b", **{"enabled_events[0]": "*"}
    )
    secrets = [*stored_secrets(runtime), webhook["secret"], world.secret]
    assert len(secrets) >= 10
    for view in sorted(VIEW_NAMES):
        result = run_query(runtime, f"SELECT * FROM {view}")
        shown = repr(result.rows)
        assert not result.truncated
        leaked = [secret[:12] for secret in secrets if secret in shown]
        assert not leaked, (view, leaked)


def test_the_role_cannot_be_switched_back(world: World, runtime: Runtime) -> None:
    answer = world.api.post("/v1/insights/sql", data={"query": ROLE_ESCAPE})
    hashes = stored_secrets(runtime)
    assert not any(secret in answer.text for secret in hashes), answer.text[:300]
    if runtime.database_kind == "postgresql":
        # The console logs in as its role: there is no application role to go back to.
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "sql_refused"


def test_numeric_columns_come_back_as_json_numbers(world: World, runtime: Runtime) -> None:
    world.business.post("/v1/coupons", percent_off="12.5", duration="once")
    answer = world.api.post("/v1/insights/sql", data={"query": "SELECT percent_off FROM coupons"})
    assert answer.status_code == 200, answer.text[:300]
    assert 12.5 in [row[0] for row in answer.json()["rows"]]


def x_times(power: int) -> str:
    """SQL (SQLite and PostgreSQL) for a string of 10**power x's, built by nested replace()."""
    expression = "'xxxxxxxxxx'"
    for _ in range(power - 1):
        expression = f"replace({expression}, 'x', 'xxxxxxxxxx')"
    return expression


def rows_of(count: int, select_list: str) -> str:
    return (
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
        f"SELECT {select_list} FROM n"
    )


# Each asks for hundreds of megabytes: one huge value, or a huge result of values that each fit.
# (query on SQLite, query on PostgreSQL, the same work done inside PostgreSQL without returning it)
HUGE = {
    "random_blob_twice": (
        "SELECT hex(randomblob(300000000)) FROM (VALUES(1),(2))",
        "SELECT repeat('x', 300000000) FROM generate_series(1, 2)",
        "SELECT octet_length(repeat('x', 300000000))",
    ),
    "padding": (
        "SELECT zeroblob(300000000) FROM (VALUES(1),(2))",
        "SELECT lpad('x', 200000000, 'y') FROM generate_series(1, 2)",
        "SELECT octet_length(lpad('x', 200000000, 'y'))",
    ),
    "formatting": (
        "SELECT printf('%.*c', 300000000, 'x') FROM (VALUES(1),(2))",
        "SELECT format('%s', rpad('', 200000000, 'x')) FROM generate_series(1, 2)",
        "SELECT octet_length(format('%s', rpad('', 200000000, 'x')))",
    ),
    "nested_replace": (
        rows_of(3, x_times(8)),
        rows_of(3, x_times(8)),
        f"SELECT octet_length({x_times(8)})",
    ),
    "aggregate": (
        rows_of(15_000, f"group_concat({x_times(4)}, '')"),
        "SELECT string_agg(repeat('x', 1000000), '') FROM generate_series(1, 300)",
        "SELECT octet_length(string_agg(repeat('x', 1000000), '')) FROM generate_series(1, 300)",
    ),
    "many_rows": (rows_of(10_000, x_times(5)), rows_of(10_000, x_times(5)), None),
}
REFUSAL_SECONDS = 2.0
MEMORY_BOUND = 200 * 1024 * 1024


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


@contextmanager
def peak_memory_growth() -> Iterator[Callable[[], int]]:
    """How far this process's peak resident memory rose above where it was, in bytes (Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except PermissionError:
        # No reset: the peak since the process started, which understates growth below an old peak.
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        yield lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start
        return
    start = _status_bytes("VmRSS")
    yield lambda: _status_bytes("VmHWM") - start


def seconds_inside_postgres(runtime: Runtime, query: str | None) -> float:
    """How long the database itself takes to compute a huge value: no console can answer sooner."""
    if query is None or runtime.database_kind != "postgresql":
        return 0.0
    with runtime.engine.connect() as connection:
        start = time.monotonic()
        connection.execute(text(query)).all()
        return time.monotonic() - start


@pytest.mark.parametrize("kind", sorted(HUGE))
def test_huge_results_are_refused_quickly_within_a_memory_bound(
    world: World, runtime: Runtime, kind: str
) -> None:
    on_sqlite, on_postgres, inside_postgres = HUGE[kind]
    query = on_postgres if runtime.database_kind == "postgresql" else on_sqlite
    floor = seconds_inside_postgres(runtime, inside_postgres)
    with peak_memory_growth() as growth:
        start = time.monotonic()
        answer = world.api.post("/v1/insights/sql", data={"query": query, "limit": 10_000})
        elapsed = time.monotonic() - start
        grown = growth()
    assert answer.status_code == 400, (answer.status_code, len(answer.content))
    error = answer.json()["error"]
    assert error["param"] == "query"
    assert error["code"] in ("sql_too_large", "sql_refused"), error
    assert elapsed < REFUSAL_SECONDS + floor, (elapsed, floor)
    assert grown < MEMORY_BOUND, f"peak memory grew by {grown / 2**20:.0f} MiB"


SLOW = {
    "sqlite": rows_of(3_000_000, "count(*)"),  # two or three seconds of one core
    "postgresql": "SELECT pg_sleep(6)",
}
CONCURRENT_QUERIES = 45
PROBES = 7
# Answering 45 requests at once takes this 2-core machine a second or two whatever they ask (about
# 10 ms of CPU each): the probes start once that burst is absorbed, or after this long regardless.
BURST_SECONDS = 4.0


def test_slow_queries_cannot_starve_the_server(live_server: str, secret_key: str, runtime: Runtime) -> None:
    """45 slow console queries at once through the real HTTP path: while they run, `/healthz` still
    answers at once (the console runs a few at a time and answers the others "busy" at once)."""
    query = SLOW[runtime.database_kind]
    settings = runtime.settings
    admitted = settings.sql_console_workers + settings.sql_console_queue
    finished: list[float] = []

    def console() -> httpx.Response:
        barrier.wait()
        with httpx.Client(
            base_url=live_server, headers={"Authorization": f"Bearer {secret_key}"}, timeout=300
        ) as http:
            answer = http.post("/v1/insights/sql", data={"query": query})
        finished.append(time.monotonic())
        return answer

    def probe() -> float:
        with httpx.Client(base_url=live_server, timeout=300) as http:
            start = time.perf_counter()
            answer = http.get("/healthz")
            assert answer.status_code == 200
            return time.perf_counter() - start

    barrier = threading.Barrier(CONCURRENT_QUERIES)
    with ThreadPoolExecutor(CONCURRENT_QUERIES + PROBES) as pool:
        answers = [pool.submit(console) for _ in range(CONCURRENT_QUERIES)]
        burst_over = time.monotonic() + BURST_SECONDS
        while len(finished) < CONCURRENT_QUERIES - admitted and time.monotonic() < burst_over:
            time.sleep(0.05)
        probes = []
        for _ in range(PROBES):
            probes.append(pool.submit(probe))
            time.sleep(0.1)
        last_probe = time.monotonic()
        latencies = [p.result() for p in probes]
        statuses = Counter(a.result().status_code for a in answers)
        codes = Counter(a.result().json().get("error", {}).get("code") for a in answers)
    assert max(finished) > last_probe, "the load was over before the probes: make the query slower"
    assert statistics.median(latencies) < 0.1, [round(x, 3) for x in latencies]
    assert statuses[200] >= 1, statuses
    assert set(statuses) <= {200, 400, 429}, statuses
    assert codes["sql_console_busy"] == statuses[429] >= 1, codes
