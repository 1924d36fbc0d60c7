"""The cancel page in a real browser, through session URLs made with the official SDK."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tenure.retention.reasons import LABELS
from tests.portal_pages.conftest import Shop, reason_labels, shoot

pytestmark = pytest.mark.browser

BUTTONS = {
    "en": ("Continue to cancel", "Cancel subscription"),
    "fr": ("Continuer la résiliation", "Résilier l’abonnement"),
    "de": ("Weiter zur Kündigung", "Abonnement kündigen"),
    "id": ("Lanjutkan pembatalan", "Batalkan langganan"),
}


def expected_labels(locale: str) -> list[str]:
    spec = reason_labels()
    order = [
        "too_expensive",
        "missing_features",
        "switched_service",
        "unused",
        "customer_service",
        "too_complex",
        "low_quality",
        "other",
    ]
    if locale == "id":
        labels = [LABELS[code]["id"] for code in order]
        assert all(label != spec[code]["en"] for label, code in zip(labels, order, strict=True))
        return labels
    return [spec[code][locale] for code in order]


@pytest.mark.parametrize("locale", ["en", "fr", "de", "id"])
def test_full_cancel_in_each_language(page: Page, shop: Shop, locale: str) -> None:
    customer = shop.customer(locales=[locale])
    subscription = shop.subscribe(customer)
    page.goto(shop.portal(customer))
    expect(page.locator("html")).to_have_attribute("lang", locale)
    shoot(page, f"{locale}-1-home")
    page.locator(f"#{subscription} a.danger").click()
    continue_label, cancel_label = BUTTONS[locale]
    shoot(page, f"{locale}-2-confirm")
    page.get_by_role("button", name=continue_label).click()
    labels = page.locator("fieldset label").all_inner_texts()
    assert labels == expected_labels(locale)
    shoot(page, f"{locale}-3-reason")
    page.get_by_label(expected_labels(locale)[0], exact=True).check()
    page.get_by_role("button", name=cancel_label).click()
    shoot(page, f"{locale}-4-done")
    expect(page.locator("h1")).to_be_visible()

    after = shop.sdk.v1.subscriptions.retrieve(subscription)
    assert after.cancel_at_period_end is True
    assert after.status == "active"
    assert after.cancellation_details is not None
    assert (after.cancellation_details.feedback, after.cancellation_details.reason) == (
        "too_expensive",
        "cancellation_requested",
    )
    events = shop.updated_events(subscription)
    assert len(events) == 1
    assert events[0].data.object["cancellation_details"]["feedback"] == "too_expensive"
    assert events[0].data.previous_attributes["cancel_at_period_end"] is False


def test_other_with_a_comment(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(
        shop.portal(
            customer,
            flow_data={"type": "subscription_cancel", "subscription_cancel": {"subscription": subscription}},
        )
    )
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("Other reason", exact=True).check()
    comment = "We moved <b>everything</b> in-house & it's cheaper"
    page.get_by_label("Anything else you would like to tell us? (optional)").fill(comment)
    page.get_by_role("button", name="Cancel subscription").click()
    # A deep link without after_completion returns to the portal home (Stripe's default).
    expect(page.locator(".notice")).to_have_text("Your cancellation is confirmed.")
    details = shop.sdk.v1.subscriptions.retrieve(subscription).cancellation_details
    assert details is not None
    assert (details.feedback, details.comment) == ("other", comment)
    assert len(shop.updated_events(subscription)) == 1


def test_too_long_comment_is_a_form_error_and_saves_nothing(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page.goto(shop.portal(customer))
    page.goto(page.url.split("/portal")[0] + f"/portal/subscriptions/{subscription}/cancel")
    page.get_by_role("button", name="Continue to cancel").click()
    page.get_by_label("Other reason", exact=True).check()
    box = page.get_by_label("Anything else you would like to tell us? (optional)")
    box.evaluate("element => element.removeAttribute('maxlength')")  # what a crafted request could send
    box.fill("x" * 501)
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator("#comment-error")).to_have_text(
        "Please keep your comment to 500 characters or fewer."
    )
    expect(page.get_by_label("Other reason", exact=True)).to_be_checked()
    after = shop.sdk.v1.subscriptions.retrieve(subscription)
    assert after.cancel_at_period_end is False
    assert shop.updated_events(subscription) == []
