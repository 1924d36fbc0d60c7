"""`python -m bench --explain` runs every floor once on a throwaway SQLite store and prints the SQL it
ran; the floors do every write Tenure's paths make in total, what the event log's consumers write
after commit included, and the rules they copy from Tenure give Tenure's answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.floors import app, sql

from tenure.events.types import matches
from tenure.insights import daily

ROOT = Path(__file__).resolve().parents[2]


def _sections(output: str) -> dict[str, str]:
    """Each floor's statements (whitespace collapsed: long statements are wrapped), by floor title."""
    sections: dict[str, str] = {}
    for block in output.split("\n== ")[1:]:
        title, _, body = block.partition("\n")
        sections[title.split(" (", 1)[0]] = " ".join(body.split())
    return sections


# About 10 s on an idle 2-core machine (three `tenure` processes' start-up); room for a busy one.
@pytest.mark.timeout(240)
def test_explain_prints_the_cancel_floors_writes_consumers_included() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--explain"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    floors = _sections(completed.stdout)
    assert {
        "POST /v1/customers",
        "POST /v1/subscriptions",
        "POST /v1/billing_portal/sessions",
        "portal cancel POST",
        "billing run, 3 renewals",
    } <= floors.keys()

    cancel = floors["portal cancel POST"]
    for table in ("events", "webhook_deliveries", "cancellations", "cancellation_days", "email_messages"):
        assert f"INSERT INTO {table} (" in cancel, table
    assert "pending_webhooks, origin, tx," in cancel
    assert "ON CONFLICT (day, reason, feedback, price_id, currency, tenure_bucket) DO UPDATE" in cancel
    assert "ON CONFLICT (cause_key) DO NOTHING" in cancel
    assert "UPDATE subscriptions SET cancel_at_period_end = ?" in cancel
    for name, statements in floors.items():  # one transaction each
        assert statements.startswith("1. BEGIN IMMEDIATE"), name
        assert statements.endswith("COMMIT") and statements.count("COMMIT") == 1, name
    for name in ("POST /v1/customers", "POST /v1/subscriptions", "POST /v1/billing_portal/sessions"):
        assert "INSERT INTO audit_log (" in floors[name], name
        assert "INSERT INTO webhook_deliveries (" in floors[name], name
    assert "INSERT INTO webhook_deliveries (" in floors["billing run, 3 renewals"]


def test_the_floors_tenure_buckets_are_the_rollups() -> None:
    for days in range(0, 800):
        assert app._tenure_bucket(days) == daily.tenure_bucket(days), days


@pytest.mark.parametrize(
    ("pattern", "event_type"),
    [
        ("*", "invoice.paid"),
        ("invoice.*", "invoice.paid"),
        ("invoice.*", "invoiceitem.created"),
        ("customer.*", "customer.subscription.updated"),
        ("customer.subscription.updated", "customer.subscription.updated"),
        ("customer.subscription.updated", "customer.subscription.deleted"),
    ],
)
def test_the_floors_match_endpoints_as_tenure_does(pattern: str, event_type: str) -> None:
    endpoints = [("we_1", [pattern])]
    queued = sql.deliveries(endpoints, event_id="evt_1", event_type=event_type, created=1)
    assert bool(queued) == matches(pattern, event_type)
