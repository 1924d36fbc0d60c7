"""The insights and SQL console pages: same figures as the API, escaped words, CSV, roles, CSRF."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tenure.config import Settings
from tenure.runtime import Runtime
from tenure.subscriptions.cancel import cancel_now
from tenure.subscriptions.common import get_subscription
from tenure.subscriptions.models import CancellationReason
from tests.dashboard.conftest import Business, page_csrf
from tests.dashboard.test_browser import sign_in, staff_create
from tests.portal_pages.conftest import shoot

COMMENT = "<script>alert(1)</script> Too dear for what we use"


@pytest.fixture
def churned(client: TestClient) -> Business:
    business = Business(client)
    for index, (feedback, comment) in enumerate(
        [
            ("too_expensive", COMMENT),
            ("too_expensive", None),
            ("missing_features", "Needs an API"),
            ("other", "Moving in-house"),
        ]
    ):
        customer = business.customer(email=f"c{index}@example.com")
        business.cancel(business.subscribe(customer), feedback=feedback, comment=comment)
    business.subscribe(business.customer(email="stays@example.com"))
    return business


def test_the_page_shows_the_api_figures(analyst: TestClient, client: TestClient, churned: Business) -> None:
    api = client.get("/v1/insights/cancellations").json()
    answer = analyst.get("/dashboard/insights")
    assert answer.status_code == 200
    html = answer.text
    assert api["total"] == 4
    assert f'<div class="value">{api["total"]}</div>' in html
    for row in api["by_feedback"]:
        assert f'data-reason="{row["feedback"]}"' in html
    assert "It’s too expensive" in html
    assert html.count('<svg class="chart"') == 3
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    filtered = analyst.get("/dashboard/insights", params={"reason": "missing_features"}).text
    assert "Needs an API" in filtered and "Moving in-house" not in filtered
    searched = analyst.get("/dashboard/insights", params={"q": "in-house"}).text
    assert "Moving in-house" in searched and "Needs an API" not in searched


def test_custom_dates_include_the_last_day_and_survive_a_resubmit(
    analyst: TestClient, churned: Business
) -> None:
    today = datetime.now(UTC).date().isoformat()
    html = analyst.get("/dashboard/insights", params={"start": today, "end": today}).text
    assert '<div class="value">4</div>' in html  # today's cancellations: the last day is included
    # The form shows the same dates back, so submitting it again keeps the same period.
    assert f'name="start" value="{today}"' in html and f'name="end" value="{today}"' in html


def test_csv_exports(analyst: TestClient, churned: Business) -> None:
    reasons = list(csv.reader(io.StringIO(analyst.get("/dashboard/insights.csv?section=by_feedback").text)))
    assert reasons[0][:3] == ["reason", "label", "count"]
    assert reasons[1][:3] == ["too_expensive", "It’s too expensive", "2"]
    words = list(csv.reader(io.StringIO(analyst.get("/dashboard/insights.csv?section=comments").text)))
    assert sorted(row[-1] for row in words[1:]) == sorted([COMMENT, "Needs an API", "Moving in-house"])


def test_involuntary_churn_is_its_own_reason(
    analyst: TestClient, client: TestClient, churned: Business, runtime: Runtime
) -> None:
    """Canceled by dunning or a dispute: "Payment failed" / "Payment disputed", never "No reason given"
    (nor `unspecified`) in the report, the page, the trend and the CSVs."""
    reasons = [CancellationReason.PAYMENT_FAILED] * 2 + [CancellationReason.PAYMENT_DISPUTED]
    unpaid = [churned.subscribe(churned.customer(email=f"unpaid{index}@example.com")) for index in range(3)]
    with runtime.sessionmaker() as session:  # what dunning, or a dispute, does when it gives up
        for subscription, reason in zip(unpaid, reasons, strict=True):
            cancel_now(session, get_subscription(session, subscription), now=int(time.time()), reason=reason)
        session.commit()
    api = client.get("/v1/insights/cancellations").json()
    assert {row["feedback"]: row["count"] for row in api["by_feedback"]} == {
        "too_expensive": 2,
        "missing_features": 1,
        "other": 1,
        "payment_failed": 2,
        "payment_disputed": 1,
    }
    assert (api["voluntary"], api["involuntary"]) == (4, 3)
    assert api["by_period"][-1]["by_feedback"]["payment_failed"] == 2
    assert not any("unspecified" in period["by_feedback"] for period in api["by_period"])
    html = analyst.get("/dashboard/insights").text
    assert 'data-reason="payment_failed"' in html and 'data-reason="payment_disputed"' in html
    assert "No reason given" not in html.split('id="table-reasons"')[1].split("</table>")[0]
    reasons = list(csv.reader(io.StringIO(analyst.get("/dashboard/insights.csv?section=by_feedback").text)))
    assert ["payment_failed", "Payment failed", "2"] in [row[:3] for row in reasons]
    assert ["payment_disputed", "Payment disputed", "1"] in [row[:3] for row in reasons]
    assert "unspecified" not in [row[0] for row in reasons]
    trend = list(csv.reader(io.StringIO(analyst.get("/dashboard/insights.csv?section=by_period").text)))
    columns = trend[0]
    assert "payment_failed" in columns and "payment_disputed" in columns
    assert sum(int(row[columns.index("payment_failed")]) for row in trend[1:]) == 2
    assert sum(int(row[columns.index("unspecified")]) for row in trend[1:]) == 0


def test_sql_console_page(analyst: TestClient, churned: Business) -> None:
    token = page_csrf(analyst, "/dashboard/sql")
    ran = analyst.post(
        "/dashboard/sql", data={"csrf_token": token, "query": "SELECT feedback FROM cancellations"}
    )
    assert ran.status_code == 200
    assert ran.text.count("<tr>") == 5  # header + 4 rows
    refused = analyst.post("/dashboard/sql", data={"csrf_token": token, "query": "DELETE FROM cancellations"})
    assert refused.status_code == 400
    assert "Only SELECT" in refused.text
    exported = analyst.post(
        "/dashboard/sql",
        data={"csrf_token": token, "format": "csv", "query": "SELECT count(*) AS n FROM cancellations"},
    )
    assert exported.text.splitlines() == ["n", "4"]
    assert analyst.post("/dashboard/sql", data={"query": "SELECT 1"}).status_code == 403
    template = analyst.get("/dashboard/sql?template=mrr_lost_by_reason")
    assert "sum(mrr)" in template.text


@pytest.mark.browser
def test_the_page_with_charts_in_a_browser(
    page: Page, live_server: str, settings: Settings, client: TestClient
) -> None:
    business = Business(client)
    for index, feedback in enumerate(["too_expensive", "unused", "too_expensive"]):
        business.cancel(
            business.subscribe(business.customer(email=f"b{index}@example.com")), feedback=feedback
        )
    staff_create(settings, "analyst@example.com", "numbers all day", role="analyst")
    sign_in(page, live_server, "analyst@example.com", "numbers all day")
    page.get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", name="Cancellation insights")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("svg.chart rect").first).to_be_visible()
    expect(page.locator("#table-reasons tbody tr").first).to_contain_text("It’s too expensive")
    shoot(page, "dashboard-insights")
