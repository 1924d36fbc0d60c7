"""The overview's figures, from subscriptions and cancel flows made through the API and the portal."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient

from tests.dashboard.conftest import Business, portal_cancel

DAY = 86_400


def figure(html: str, name: str) -> str:
    found = re.search(rf'<div class="figure" id="figure-{name}">(.*?)</div>\s*</div>', html, re.S)
    assert found, name
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_figures(admin: TestClient, business: Business) -> None:
    usd = business.post(
        "/v1/prices",
        product=business.post("/v1/products", name="Intl")["id"],
        unit_amount="1000",
        currency="usd",
        **{"recurring[interval]": "month"},
    )["id"]
    ada = business.customer()
    business.subscribe(ada)  # 20 EUR a month
    business.subscribe(ada, price=business.yearly)  # 240 EUR a year: 20 a month
    business.subscribe(business.customer(email="us@example.com"), price=usd)
    business.subscribe(ada, trial_period_days="7")  # trialing: no revenue yet
    scheduled = business.subscribe(ada)
    business.schedule_cancel(scheduled, feedback="unused")  # still active, still paying this period
    business.cancel(business.subscribe(ada), feedback="too_expensive")

    html = admin.get("/dashboard").text
    assert figure(html, "mrr").startswith("MRR €60.00 $10.00")
    assert figure(html, "active").startswith("Active subscriptions 4 1 trialing")
    assert figure(html, "canceled").startswith("Cancellations this month 2")  # one scheduled, one now
    assert figure(html, "scheduled").startswith("Scheduled cancellations 1")


def test_save_rate_counts_only_saves_that_lasted(admin: TestClient, business: Business) -> None:
    coupon = business.post("/v1/coupons", percent_off="50", duration="once")["id"]
    business.post("/v1/billing_portal/configurations", **{"tenure_retention[coupon]": coupon})
    clock = business.post("/v1/test_helpers/test_clocks", frozen_time=str(int(time.time()) - 40 * DAY))["id"]
    for answer in ("accept", "decline"):
        customer = business.post(
            "/v1/customers",
            email=f"{answer}@example.com",
            test_clock=clock,
            payment_method="pm_card_visa",
            **{"invoice_settings[default_payment_method]": "pm_card_visa"},
        )["id"]
        portal_cancel(business, customer, business.subscribe(customer), reason="unused", answer_offer=answer)
    html = admin.get("/dashboard").text
    assert figure(html, "save-rate").startswith("Save rate 50.0 % 1 of 2 offers")
