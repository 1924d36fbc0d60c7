"""Each ready-made SQL console query answers what the insights pages answer, on the seeded book of
test_cancellations_report (thousands of subscriptions, EUR and USD, flows, saves, payment failures)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.insights.comments import CommentFilter, comments
from tenure.insights.templates import TEMPLATES, templates_for
from tenure.insights.winback import segment_for, segment_rows
from tenure.runtime import Runtime
from tests.insights.test_cancellations_report import DAY, T0, USD_TO_EUR, seed, to_eur
from tests.subscriptions.conftest import ok

START, END = T0 - DAY, int(time.time()) + DAY


@pytest.fixture
def book(client: TestClient, settings: Settings, runtime: Runtime) -> Runtime:
    """The seeded book, a few comments to read, one customer who unsubscribed, one who came back."""
    seed(settings)
    settings.fx_rates = f"usd={USD_TO_EUR}"
    settings.reporting_currency = "eur"
    product = ok(client.post("/v1/products", data={"name": "Extra"}))["id"]
    price = ok(
        client.post(
            "/v1/prices",
            data={
                "product": product,
                "currency": "eur",
                "unit_amount": 900,
                "recurring[interval]": "month",
            },
        )
    )["id"]
    said = [("other", "No export to our accounting tool"), ("other", ""), ("too_complex", "Too many steps")]
    for index, (feedback, comment) in enumerate([*said, ("other", "We merged with another company")]):
        customer = ok(
            client.post(
                "/v1/customers",
                data={
                    "email": f"extra{index}@example.com",
                    "payment_method": "pm_card_visa",
                    "invoice_settings[default_payment_method]": "pm_card_visa",
                },
            )
        )["id"]
        sub = ok(client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": price}))
        ok(
            client.request(
                "DELETE",
                f"/v1/subscriptions/{sub['id']}",
                params={"cancellation_details[feedback]": feedback, "cancellation_details[comment]": comment},
            )
        )
        if index == 3:  # came back: no longer a win-back candidate
            ok(client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": price}))
    with runtime.sessionmaker() as session:
        session.execute(
            update(Customer).where(Customer.email == "extra1@example.com").values(marketing_opt_out=True)
        )
        session.commit()
    return runtime


def run(client: TestClient, runtime: Runtime, key: str) -> list[dict[str, Any]]:
    sql = templates_for(runtime.database_kind)[key][1]
    result = ok(client.post("/v1/insights/sql", data={"query": sql, "limit": 10_000}))
    assert result["truncated"] is False
    return [dict(zip(result["columns"], row, strict=True)) for row in result["rows"]]


def report(client: TestClient) -> dict[str, Any]:
    return ok(
        client.get(
            "/v1/insights/cancellations",
            params={"created[gte]": START, "created[lt]": END, "interval": "month"},
        )
    )


@pytest.mark.timeout(600)
def test_every_template_equals_the_insights_pages(client: TestClient, book: Runtime) -> None:
    """One seeding for all the templates: the book takes half a minute to build."""
    checks: dict[str, Callable[[TestClient, Runtime], None]] = {
        name.removeprefix("check_"): check for name, check in globals().items() if name.startswith("check_")
    }
    assert set(checks) == set(TEMPLATES), "every template has its check here"
    for name in TEMPLATES:
        checks[name](client, book)


def check_reasons_by_month(client: TestClient, book: Runtime) -> None:
    rows = run(client, book, "reasons_by_month")
    got = {(row["month"], row["customer_reason"]): row["cancellations"] for row in rows}
    assert len(got) == len(rows), "one row per month and reason"
    expected = {
        (datetime.fromtimestamp(period["start"], tz=UTC).strftime("%Y-%m"), feedback): count
        for period in report(client)["by_period"]
        for feedback, count in period["by_feedback"].items()
    }
    assert got == expected
    assert sum(got.values()) > 1_000
    # The seeded payment failures and disputes are their own reasons, never "unspecified".
    reasons = {reason for _, reason in got}
    assert {"payment_failed", "payment_disputed"} <= reasons and "unspecified" not in reasons


def check_mrr_lost_by_reason(client: TestClient, book: Runtime) -> None:
    rows = run(client, book, "mrr_lost_by_reason")
    assert len({(row["customer_reason"], row["currency"]) for row in rows}) == len(rows)
    counts: dict[str, int] = defaultdict(int)
    mrr: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["customer_reason"]] += row["cancellations"]
        mrr[row["customer_reason"]] += to_eur(int(row["mrr_lost_minor"]), row["currency"])
    by_feedback = report(client)["by_feedback"]
    assert dict(counts) == {row["feedback"]: row["count"] for row in by_feedback}
    assert dict(mrr) == {row["feedback"]: row["mrr_lost"] for row in by_feedback}
    assert {row["currency"] for row in rows} == {"eur", "usd"}


def check_save_rate_by_offer(client: TestClient, book: Runtime) -> None:
    rows = run(client, book, "save_rate_by_offer")
    by_offer = report(client)["retention"]["by_offer"]
    assert {row["offer_type"]: (row["offers_shown"], row["accepted"]) for row in rows} == {
        row["offer"]: (row["offers_shown"], row["offers_accepted"]) for row in by_offer
    }
    assert all(row["accepted"] > 0 for row in rows)


def check_other_comments(client: TestClient, book: Runtime) -> None:
    rows = run(client, book, "other_comments")
    with book.sessionmaker() as session:
        listed = comments(session, CommentFilter(start=START, end=END, feedback="other"), limit=1_000)
    # Newest first; comments of one moment in the template by subscription (the view has no row
    # order of its own), on the page by when they were recorded.
    newest_first = sorted(listed, key=lambda entry: (-entry[0].canceled_at, entry[0].subscription_id))
    assert [(row["subscription"], row["comment"]) for row in rows] == [
        (record.subscription_id, record.comment) for record, _ in newest_first
    ]
    assert len(rows) == 2


def check_win_back_candidates(client: TestClient, book: Runtime) -> None:
    rows = run(client, book, "win_back_candidates")
    with book.sessionmaker() as session:
        segment = segment_rows(session, segment_for(start=0, end=END))
    expected = [
        (row.email, row.feedback, row.canceled_at, row.mrr_lost, row.currency)
        for row in segment
        if not row.unsubscribed
    ]
    got = [
        (row["email"], row["customer_reason"], row["canceled_at"], row["mrr"], row["currency"])
        for row in rows
    ]
    # Both newest first; cancellations in the same second may come in either order.
    assert [row[2] for row in got] == sorted((row[2] for row in got), reverse=True)
    assert sorted(got) == sorted(expected)
    emails = [row["email"] for row in rows]
    assert len(emails) == len(set(emails)), "each customer once"
    reasons = {row["customer_reason"] for row in rows}
    assert {"payment_failed", "payment_disputed"} <= reasons and "unspecified" not in reasons
    assert "extra1@example.com" not in emails and "extra3@example.com" not in emails
    assert "extra0@example.com" in emails
