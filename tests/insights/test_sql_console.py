"""The SQL console reads documented views and nothing else, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tenure.api.errors import InvalidRequest
from tenure.insights.sql_console import run_query
from tenure.runtime import Runtime
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
    with pytest.raises(InvalidRequest) as stopped:
        run_query(runtime, runaway, timeout=0.5)
    assert stopped.value.code == "sql_timeout"
