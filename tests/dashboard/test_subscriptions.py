"""Subscriptions: tabs, filters, pagination, the reason tooltip, the detail page and operator actions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.dashboard import listing
from tenure.dashboard.models import StaffAction
from tenure.insights.models import CancellationRecord
from tenure.runtime import Runtime
from tests.dashboard.conftest import Business, csrf_of, portal_cancel


def rows(html: str) -> set[str]:
    return set(re.findall(r'<tr id="row-(sub_\w+)"', html))


def tooltip(html: str, subscription: str) -> str:
    found = re.search(
        rf'<span class="tip-text" role="tooltip" id="tip-{subscription}">(.*?)</span>\s*</span>', html, re.S
    )
    assert found, f"no tooltip for {subscription}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


@pytest.fixture
def book(business: Business) -> dict[str, str]:
    ada, bob, cy = (
        business.customer(),
        business.customer(email="bob@example.com", name="Bob"),
        business.customer(email="cy@example.com", name="Cy"),
    )
    subs = {
        "active": business.subscribe(ada),
        "trialing": business.subscribe(bob, trial_period_days="14"),
        "scheduled": business.subscribe(cy),
        "canceled": business.subscribe(ada),
        "canceled_yearly": business.subscribe(bob, price=business.yearly),
    }
    business.schedule_cancel(subs["scheduled"], feedback="missing_features")
    business.cancel(subs["canceled"], feedback="too_expensive", comment="The price doubled in March. " * 5)
    business.cancel(subs["canceled_yearly"], feedback="unused")
    return subs


def test_tabs(admin: TestClient, book: dict[str, str]) -> None:
    def tab(name: str) -> set[str]:
        answer = admin.get(f"/dashboard/subscriptions?tab={name}")
        assert answer.status_code == 200
        return rows(answer.text)

    assert tab("all") == set(book.values())
    assert tab("active") == {book["active"], book["scheduled"]}
    assert tab("trialing") == {book["trialing"]}
    assert tab("past_due") == set()
    assert tab("scheduled") == {book["scheduled"]}
    assert tab("canceled") == {book["canceled"], book["canceled_yearly"]}
    assert tab("nonsense") == set(book.values())  # an unknown tab is "All"


def test_the_canceled_tab_explains_each_row_in_a_tooltip(admin: TestClient, book: dict[str, str]) -> None:
    html = admin.get("/dashboard/subscriptions?tab=canceled").text
    first = tooltip(html, book["canceled"])
    assert first.startswith("It’s too expensive “The price doubled in March.")
    assert first.endswith("…”")  # the start of the comment only
    assert len(first) < 130
    assert tooltip(html, book["canceled_yearly"]) == "I no longer need it"
    # A focusable button describes itself with the tooltip (hover and keyboard focus show it).
    assert f'aria-describedby="tip-{book["canceled"]}"' in html
    scheduled = admin.get("/dashboard/subscriptions?tab=scheduled").text
    assert tooltip(scheduled, book["scheduled"]) == "I need more features"


def test_filters_and_pagination(
    admin: TestClient, business: Business, book: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    canceled = "/dashboard/subscriptions?tab=canceled"
    assert rows(admin.get(canceled + "&reason=too_expensive").text) == {book["canceled"]}
    assert rows(admin.get(canceled + "&reason=none").text) == set()
    assert rows(admin.get(canceled + f"&price={business.yearly}").text) == {book["canceled_yearly"]}
    assert rows(admin.get(f"/dashboard/subscriptions?price={business.monthly}").text) == set(
        book.values()
    ) - {book["canceled_yearly"]}
    today = datetime.now(UTC).date()
    tomorrow = today + timedelta(days=1)
    assert rows(admin.get(canceled + f"&from={today}&to={today}").text) == {
        book["canceled"],
        book["canceled_yearly"],
    }
    assert rows(admin.get(canceled + f"&from={tomorrow}").text) == set()
    # Nonsense filter values are ignored, never a 500 and never SQL.
    odd = admin.get("/dashboard/subscriptions?tab=canceled&from=yesterday&reason=%27%20OR%201=1--&page=-3")
    assert odd.status_code == 200
    assert rows(odd.text) == {book["canceled"], book["canceled_yearly"]}

    monkeypatch.setattr(listing, "PAGE_SIZE", 1)
    first = admin.get(canceled).text
    second = admin.get(canceled + "&page=2").text
    assert len(rows(first)) == len(rows(second)) == 1
    assert rows(first) | rows(second) == {book["canceled"], book["canceled_yearly"]}
    assert "?tab=canceled&amp;page=2" in first
    assert "Next" not in admin.get(canceled + "&page=2").text.split('class="pager"')[1]


def test_sources_and_custom_reasons(admin: TestClient, business: Business, book: dict[str, str]) -> None:
    business.post(
        "/v1/billing_portal/configurations",
        **{
            "features[subscription_cancel][mode]": "immediately",
            "tenure_custom_reasons[0][code]": "too_slow",
            "tenure_custom_reasons[0][labels][en]": "The app is too slow",
            "tenure_custom_reasons[0][feedback]": "low_quality",
        },
    )
    dee = business.customer(email="dee@example.com", name="Dee")
    in_portal = business.subscribe(dee)
    portal_cancel(business, dee, in_portal, reason="too_slow", comment="Loading takes ages")
    by_operator = business.subscribe(dee)
    token = csrf_of(admin.get(f"/dashboard/subscriptions/{by_operator}").text)
    done = admin.post(
        f"/dashboard/subscriptions/{by_operator}/cancel",
        data={
            "csrf_token": token,
            "mode": "immediately",
            "feedback": "customer_service",
            "comment": "Called us",
        },
    )
    assert done.status_code == 200

    html = admin.get("/dashboard/subscriptions?tab=canceled").text
    assert tooltip(html, in_portal) == "The app is too slow “Loading takes ages”"
    assert rows(admin.get("/dashboard/subscriptions?tab=canceled&reason=too_slow").text) == {in_portal}
    assert rows(admin.get("/dashboard/subscriptions?tab=canceled&reason=low_quality").text) == {in_portal}

    def source(subscription: str) -> str:
        page = admin.get(f"/dashboard/subscriptions/{subscription}").text
        found = re.search(r'<dd id="cancellation-source">(.*?)</dd>', page, re.S)
        assert found
        return " ".join(found.group(1).split())

    assert source(in_portal).startswith("Customer portal")
    assert source(by_operator) == "Operator (dashboard) — admin@example.com"
    assert source(book["canceled"]) == "API"
    assert source(book["scheduled"]) == "API"


def test_detail_page(admin: TestClient, business: Business, runtime: Runtime) -> None:
    coupon = business.post("/v1/coupons", percent_off="30", duration="once", name="Stay 30")["id"]
    business.post("/v1/billing_portal/configurations", **{"tenure_retention[coupon]": coupon})
    customer = business.customer(email="eve@example.com", name="Eve")
    subscription = business.subscribe(customer)
    portal_cancel(
        business,
        customer,
        subscription,
        reason="too_expensive",
        comment="Cheaper elsewhere",
        answer_offer="decline",
    )
    page = admin.get(f"/dashboard/subscriptions/{subscription}")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="cancellation-reason">It’s too expensive', html)
    assert '<p class="comment" id="cancellation-comment">Cheaper elsewhere</p>' in html
    assert '<dd id="customer-email">eve@example.com</dd>' in html
    assert "Visa •••• 4242" in html  # last4 only
    assert "Coupon 30.0 % off" in html and "declined" in html  # the flow's offer and answer
    events = business.client.get("/v1/events", params={"type": "customer.subscription.updated"}).json()[
        "data"
    ]
    recorded = next(e for e in events if e["data"]["object"]["id"] == subscription)
    assert recorded["id"] in html
    shown = re.search(r'<pre class="json"[^>]*>(.*?)</pre>', html, re.S)
    assert shown
    body = json.loads(
        shown.group(1)
        .replace("&#34;", '"')
        .replace("&quot;", '"')
        .replace("&#39;", "'")
        .replace("&amp;", "&")
    )
    assert body["id"] == recorded["id"]
    assert body["data"]["object"]["cancellation_details"] == {
        "comment": "Cheaper elsewhere",
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }


def test_operator_actions(admin: TestClient, business: Business, runtime: Runtime) -> None:
    coupon = business.post("/v1/coupons", percent_off="20", duration="forever")["id"]
    subscription = business.subscribe(business.customer())
    path = f"/dashboard/subscriptions/{subscription}"
    token = csrf_of(admin.get(path).text)

    refused = admin.post(
        path + "/cancel", data={"csrf_token": token, "mode": "at_period_end", "feedback": ""}
    )
    assert refused.status_code == 400
    assert "cancellation_details[feedback]" in refused.text
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["cancel_at_period_end"] is False

    scheduled = admin.post(
        path + "/cancel",
        data={"csrf_token": token, "mode": "at_period_end", "feedback": "unused", "comment": ""},
    )
    assert "scheduled to cancel at the end" in scheduled.text
    api = business.client.get(f"/v1/subscriptions/{subscription}").json()
    assert api["cancel_at_period_end"] is True
    assert api["cancellation_details"] == {
        "comment": None,
        "feedback": "unused",
        "reason": "cancellation_requested",
    }

    kept = admin.post(path + "/keep", data={"csrf_token": token})
    assert "undone" in kept.text
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["cancel_at_period_end"] is False
    assert admin.post(path + "/keep", data={"csrf_token": token}).status_code == 400  # nothing to undo

    discounted = admin.post(path + "/discount", data={"csrf_token": token, "coupon": coupon})
    assert "The discount was applied." in discounted.text
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["discounts"]
    wrong = admin.post(path + "/discount", data={"csrf_token": token, "promotion_code": "NOPE"})
    assert wrong.status_code == 400
    assert "No such promotion code" in wrong.text

    gone = admin.post(
        path + "/cancel",
        data={"csrf_token": token, "mode": "immediately", "feedback": "other", "prorate": "true"},
    )
    assert "The subscription was canceled." in gone.text
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["status"] == "canceled"
    assert "Operator actions" not in gone.text  # nothing left to do on an ended subscription

    events = business.client.get("/v1/events", params={"limit": 100}).json()["data"]
    updates = [
        e
        for e in events
        if e["type"] == "customer.subscription.updated" and e["data"]["object"]["id"] == subscription
    ]
    assert len(updates) == 4  # scheduled, kept, discounted, canceled: one event each
    with runtime.sessionmaker() as session:
        trail = [a.action for a in session.scalars(select(StaffAction).order_by(StaffAction.pk))]
        record = session.scalar(
            select(CancellationRecord).where(CancellationRecord.subscription_id == subscription)
        )
    assert trail == [
        "subscription.cancel",
        "subscription.undo_cancel",
        "subscription.apply_discount",
        "subscription.cancel",
    ]
    assert record is not None and record.source == "operator"  # the insights agree
