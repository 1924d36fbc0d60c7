"""The portal home: keep a scheduled subscription, an immediate prorated cancel, isolation, CSRF, links."""

from __future__ import annotations

import pytest
import stripe
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tenure.portal.models import PortalSession
from tenure.runtime import Runtime
from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser


def test_keep_my_subscription_undoes_a_scheduled_cancel(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    shop.sdk.v1.subscriptions.update(
        subscription, {"cancel_at_period_end": True, "cancellation_details": {"feedback": "unused"}}
    )
    page.goto(shop.portal(customer))
    expect(page.locator(".banner")).to_contain_text("Your subscription will be canceled on")
    shoot(page, "en-scheduled")
    page.get_by_role("button", name="Keep my subscription").click()
    expect(page.locator(".notice")).to_have_text("Your subscription will continue. Thank you for staying!")
    after = shop.sdk.v1.subscriptions.retrieve(subscription)
    assert after.cancel_at_period_end is False
    assert after.cancellation_details is not None
    assert (after.cancellation_details.feedback, after.cancellation_details.reason) == (None, None)
    events = shop.updated_events(subscription)
    assert len(events) == 2  # scheduled through the API, kept through the portal
    assert events[0].data.previous_attributes["cancel_at_period_end"] is True


def test_immediate_prorated_cancel_credits_the_balance(page: Page, shop: Shop) -> None:
    configuration = shop.sdk.v1.billing_portal.configurations.create(
        {
            "features": {
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "immediately",
                    "proration_behavior": "create_prorations",
                }
            },
            "business_profile": {"headline": "Studio billing"},
        }
    )
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(shop.portal(customer, configuration=configuration.id))
    page.locator(f"#{subscription} a.danger").click()
    expect(page.locator("main")).to_contain_text("canceled immediately")
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("I no longer need it", exact=True).check()
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_text("Your subscription has been canceled.")).to_be_visible()
    after = shop.sdk.v1.subscriptions.retrieve(subscription)
    assert after.status == "canceled"
    assert after.cancellation_details is not None and after.cancellation_details.feedback == "unused"
    balance = shop.sdk.v1.customers.retrieve(customer).balance
    assert -2000 <= balance < -1900  # nearly the whole month unused, never more than was paid
    assert len(shop.updated_events(subscription)) == 1


def test_another_customers_subscription_is_not_found(page: Page, shop: Shop) -> None:
    mine = shop.customer()
    shop.subscribe(mine)
    theirs = shop.subscribe(shop.customer(email="eve@example.com"))
    page.goto(shop.portal(mine))
    base = page.url.split("/portal")[0]
    response = page.goto(f"{base}/portal/subscriptions/{theirs}/cancel")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert shop.sdk.v1.subscriptions.retrieve(theirs).cancel_at_period_end is False


def test_post_without_csrf_token_is_refused(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    shop.sdk.v1.subscriptions.update(subscription, {"cancel_at_period_end": True})
    page.goto(shop.portal(customer))
    base = page.url.split("/portal")[0]
    response = page.request.post(f"{base}/portal/subscriptions/{subscription}/renew", form={"x": "1"})
    assert response.status == 403
    assert "This form has expired" in response.text()
    assert shop.sdk.v1.subscriptions.retrieve(subscription).cancel_at_period_end is True


def test_a_session_link_works_once(page: Page, shop: Shop, browser: object) -> None:
    customer = shop.customer()
    url = shop.portal(customer)
    first = page.goto(url)
    assert first is not None and first.ok
    context = page.context.browser.new_context() if page.context.browser else None
    assert context is not None
    replay = context.new_page()
    response = replay.goto(url)
    assert response is not None and response.status == 410
    expect(replay.get_by_role("heading", name="This link has expired")).to_be_visible()
    assert replay.context.cookies() == []
    context.close()


def test_an_expired_session_link_shows_a_clear_page(page: Page, shop: Shop, runtime: Runtime) -> None:
    url = shop.portal(shop.customer(locales=["de"]))
    with runtime.sessionmaker() as session:
        session.execute(update(PortalSession).values(url_expires_at=runtime.clock.now() - 1))
        session.commit()
    response = page.goto(url)
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("This link has expired")
    with pytest.raises(stripe.InvalidRequestError):
        shop.sdk.v1.billing_portal.sessions.create({"customer": "cus_missing"})
