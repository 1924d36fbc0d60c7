"""The SQL console reads documented views and nothing else, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tenure.api.errors import InvalidRequest, TenureError
from tenure.insights import sql_console
from tenure.insights.sql_console import run_query
from tenure.runtime import Runtime
from tests.dashboard.conftest import page_csrf
from tests.security.test_sql_console import rows_of, x_times
from tests.subscriptions.conftest import Catalog, ok

REFUSED = [
    "INSERT INTO customers (id) VALUES ('x')",
    "UPDATE subscriptions SET status = 'active'",
    "DELETE FROM invoices",
    "DROP TABLE customers",
    "CREATE TABLE evil (x int)",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA table_info(api_keys)",
    "SELECT 1; SELECT 2",
    "SELECT * FROM api_keys",
    "SELECT secret_hash FROM main.api_keys",
    "SELECT * FROM public.api_keys",
    "SELECT * FROM staff_users",
    "SELECT * FROM idempotency_records",
    "SELECT * FROM webhook_endpoints",
    "SELECT * FROM portal_sessions",
    "SELECT name FROM sqlite_master",
    "SELECT count(*) FROM main.api_keys",
    "SELECT count(*) FROM staff_sessions",
]


def test_reads_documented_views(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    ok(
        client.request(
            "DELETE",
            f"/v1/subscriptions/{sub['id']}",
            params={"cancellation_details[feedback]": "too_complex", "cancellation_details[comment]": "hard"},
        )
    )
    result = ok(
        client.post(
            "/v1/insights/sql",
            data={"query": "SELECT subscription, feedback, comment, mrr, reason FROM cancellations"},
        )
    )
    assert result["object"] == "insights.sql_result"
    assert result["columns"] == ["subscription", "feedback", "comment", "mrr", "reason"]
    assert result["rows"] == [[sub["id"], "too_complex", "hard", 2000, "cancellation_requested"]]
    assert result["truncated"] is False
    joined = ok(
        client.post(
            "/v1/insights/sql",
            data={
                "query": (
                    "SELECT s.status, c.email FROM subscriptions s JOIN customers c ON c.id = s.customer"
                )
            },
        )
    )
    assert joined["rows"] == [["canceled", "sub@example.com"]]
    capped = ok(client.post("/v1/insights/sql", data={"query": "SELECT id FROM events", "limit": 2}))
    assert len(capped["rows"]) == 2 and capped["truncated"] is True


@pytest.mark.parametrize("query", REFUSED)
def test_refuses_everything_else(client: TestClient, query: str) -> None:
    response = client.post("/v1/insights/sql", data={"query": query})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "query"


def test_runaway_query_stops_at_the_timeout(runtime: Runtime) -> None:
    runaway = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    start = time.monotonic()
    with pytest.raises(InvalidRequest) as stopped:
        run_query(runtime, runaway, timeout=0.5)
    assert stopped.value.code == "sql_timeout"
    assert time.monotonic() - start < 2


def test_a_value_over_the_size_limit_is_refused(client: TestClient) -> None:
    fits = ok(client.post("/v1/insights/sql", data={"query": f"SELECT {x_times(5)} AS filler"}))
    assert len(fits["rows"][0][0]) == 100_000
    refused = client.post("/v1/insights/sql", data={"query": f"SELECT {x_times(6)} AS filler"})
    assert refused.status_code == 400, refused.text[:200]
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("sql_too_large", "query")
    assert "256 KiB" in error["message"], error["message"]


def test_a_result_over_the_size_limit_is_refused(client: TestClient) -> None:
    """400 rows of 100 kB: each value fits, the whole does not (and is not silently cut)."""
    refused = client.post("/v1/insights/sql", data={"query": rows_of(400, f"i, {x_times(5)} AS filler")})
    assert refused.status_code == 400, (refused.status_code, len(refused.content))
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("sql_too_large", "query")
    assert "16 MiB" in error["message"], error["message"]
    fits = ok(client.post("/v1/insights/sql", data={"query": rows_of(100, f"i, {x_times(5)} AS filler")}))
    assert [row[0] for row in fits["rows"]] == list(range(1, 101))


def test_the_page_says_when_a_result_is_too_large(analyst: TestClient) -> None:
    token = page_csrf(analyst, "/dashboard/sql")
    answer = analyst.post(
        "/dashboard/sql", data={"csrf_token": token, "query": f"SELECT {x_times(6)} AS big"}
    )
    assert answer.status_code == 400
    assert "256 KiB" in answer.text
    assert "at most 1,000 rows, 16 MiB and 10 seconds" in analyst.get("/dashboard/sql").text


@pytest.mark.parametrize("function", ["randomblob(16)", "zeroblob(16)", "printf('%d', 1)", "format('%d', 1)"])
def test_sqlite_functions_that_build_values_of_any_size_are_refused(
    client: TestClient, runtime: Runtime, function: str
) -> None:
    if runtime.database_kind != "sqlite":
        pytest.skip("SQLite's functions")
    refused = client.post("/v1/insights/sql", data={"query": f"SELECT {function}"})
    assert refused.status_code == 400, refused.text[:200]
    assert function.split("(")[0] in refused.json()["error"]["message"]


def test_postgres_console_sessions_are_bounded(runtime: Runtime) -> None:
    if runtime.database_kind != "postgresql":
        pytest.skip("PostgreSQL's settings")
    settings = run_query(
        runtime,
        "SELECT current_setting('statement_timeout'), current_setting('work_mem'), "
        "current_setting('temp_file_limit')",
    )
    with runtime.engine.connect() as connection:
        superuser = connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        # Only a superuser may set temp_file_limit, even for another role.
        temp_file_limit = "256MB" if superuser.scalar_one() else "-1"
    assert settings.rows == [["10s", "8MB", temp_file_limit]]


def test_the_pool_answers_busy_at_once_when_every_place_is_taken() -> None:
    pool = sql_console.ConsolePool(workers=1, queue=1)
    running, release = threading.Event(), threading.Event()

    def hold() -> str:
        running.set()
        release.wait(10)
        return "held"

    with ThreadPoolExecutor(2) as callers:
        first = callers.submit(pool.run, hold, timeout=10)
        running.wait(10)
        queued = callers.submit(pool.run, lambda: "queued", timeout=10)
        time.sleep(0.2)  # the second caller takes the queue's place
        start = time.monotonic()
        with pytest.raises(TenureError) as busy:
            pool.run(lambda: "no room", timeout=10)
        assert time.monotonic() - start < 0.1
        assert (busy.value.status_code, busy.value.code) == (429, "sql_console_busy")
        release.set()
        assert (first.result(), queued.result()) == ("held", "queued")
    assert pool.run(lambda: "again", timeout=10) == "again"


def test_a_caller_stops_waiting_at_the_time_limit() -> None:
    """Even when the query is stuck in one long step (SQLite cannot interrupt a single function
    call): the caller is answered, and the thread counts as taken until the step ends."""
    pool = sql_console.ConsolePool(workers=1, queue=0)
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(TenureError) as stopped:
        pool.run(lambda: release.wait(10), timeout=0.3)
    assert stopped.value.code == "sql_timeout"
    assert time.monotonic() - start < 0.3 + sql_console.GRACE_SECONDS + 0.3
    with pytest.raises(TenureError) as busy:
        pool.run(lambda: True, timeout=0.3)
    assert busy.value.code == "sql_console_busy"
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert pool.run(lambda: "free", timeout=1) == "free"
            break
        except TenureError:
            time.sleep(0.05)
    else:
        pytest.fail("the pool's thread was not given back")


def test_a_query_waits_at_most_its_time_limit_for_a_thread() -> None:
    pool = sql_console.ConsolePool(workers=1, queue=1)
    running, release = threading.Event(), threading.Event()

    def hold() -> None:
        running.set()
        release.wait(10)

    with ThreadPoolExecutor(1) as callers:
        first = callers.submit(pool.run, hold, timeout=10)
        running.wait(10)
        start = time.monotonic()
        with pytest.raises(TenureError) as busy:
            pool.run(lambda: "late", timeout=0.3)
        assert busy.value.code == "sql_console_busy"
        assert 0.25 < time.monotonic() - start < 1
        release.set()
        first.result()
