"""Deep links into the cancel flow with a retention coupon: accepted, declined; after_completion."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser


def _deep_link(shop: Shop, customer: str, subscription: str, coupon: str, **after: object) -> str:
    flow: dict[str, object] = {
        "type": "subscription_cancel",
        "subscription_cancel": {
            "subscription": subscription,
            "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon}},
        },
    }
    if after:
        flow["after_completion"] = after
    return shop.portal(customer, flow_data=flow)


def test_retention_coupon_accepted_keeps_the_subscription(page: Page, shop: Shop) -> None:
    coupon = shop.sdk.v1.coupons.create(
        {"percent_off": 30, "duration": "repeating", "duration_in_months": 3}
    ).id
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(_deep_link(shop, customer, subscription, coupon))
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("It’s too expensive", exact=True).check()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator(".offer-title")).to_have_text("Stay and get 30% off for the next 3 months.")
    shoot(page, "en-offer")
    page.get_by_role("button", name="Accept offer").click()
    expect(page.get_by_role("heading", name="Offer applied")).to_be_visible()

    after = shop.sdk.v1.subscriptions.retrieve(subscription, {"expand": ["discounts"]})
    assert after.status == "active"
    assert after.cancel_at_period_end is False
    assert after.cancellation_details is not None and after.cancellation_details.reason is None
    assert [d.source.coupon for d in after.discounts] == [coupon]  # type: ignore[union-attr]
    preview = shop.sdk.v1.invoices.create_preview({"subscription": subscription})
    assert preview.amount_due == 1400
    events = shop.updated_events(subscription)
    assert len(events) == 1
    assert "discounts" in events[0].data.previous_attributes


def test_retention_coupon_declined_schedules_the_cancellation(page: Page, shop: Shop) -> None:
    coupon = shop.sdk.v1.coupons.create({"percent_off": 30, "duration": "once"}).id
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(
        _deep_link(
            shop,
            customer,
            subscription,
            coupon,
            type="hosted_confirmation",
            hosted_confirmation={"custom_message": "Sorry to see you go, Ada."},
        )
    )
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("I found an alternative", exact=True).check()
    page.get_by_role("button", name="Cancel subscription").click()
    page.get_by_role("button", name="No thanks, cancel my subscription").click()
    expect(page.locator(".custom-message")).to_have_text("Sorry to see you go, Ada.")
    after = shop.sdk.v1.subscriptions.retrieve(subscription)
    assert after.cancel_at_period_end is True
    assert after.discounts == []
    assert after.cancellation_details is not None
    assert after.cancellation_details.feedback == "switched_service"
    events = shop.updated_events(subscription)
    assert len(events) == 1
    assert events[0].data.previous_attributes["cancellation_details"]["feedback"] is None


def test_redirect_after_completion(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    url = shop.portal(
        customer,
        flow_data={
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": subscription},
            "after_completion": {"type": "redirect", "redirect": {"return_url": "https://example.com/bye"}},
        },
    )
    page.route(
        "https://example.com/**",
        lambda route: route.fulfill(status=200, body="<h1>bye</h1>", content_type="text/html"),
    )
    page.goto(url)
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page).to_have_url("https://example.com/bye")
    assert shop.sdk.v1.subscriptions.retrieve(subscription).cancel_at_period_end is True
