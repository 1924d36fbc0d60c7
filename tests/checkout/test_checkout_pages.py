"""The hosted checkout in a real browser, with sessions made through the official SDK."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from tests.checkout.conftest import CANCEL_URL, SUCCESS_URL
from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser

THANKS = re.compile(r"^https://shop\.example/thanks\?session=cs_\w+$")


def open_checkout(page: Page, shop: Shop, **params: Any) -> str:
    """Create a session for the monthly price and open its page; the shop's pages answer offline."""
    session = shop.sdk.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "line_items": [{"price": shop.monthly, "quantity": 1}],
            "success_url": SUCCESS_URL,
            "cancel_url": CANCEL_URL,
            **params,
        }
    )
    assert session.url

    def shop_page(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body="<h1>Thanks</h1>")

    page.route("https://shop.example/**", shop_page)
    page.goto(session.url)
    return session.id


def totals(shop: Shop) -> dict[str, int]:
    sdk = shop.sdk
    return {
        "customers": len(sdk.v1.customers.list({"limit": 100}).data),
        "payment_methods": len(sdk.v1.payment_methods.list({"limit": 100}).data),
        "subscriptions": len(sdk.v1.subscriptions.list({"status": "all", "limit": 100}).data),
        "invoices": len(sdk.v1.invoices.list({"limit": 100}).data),
    }


def fill_card(page: Page, number: str = "4242 4242 4242 4242") -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date (MM / YY)").fill("12 / 34")
    page.get_by_label("Security code (CVC)").fill("123")


def test_subscribe_with_a_card_in_english(page: Page, shop: Shop) -> None:
    session_id = open_checkout(page, shop, customer_email="ada@example.com")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Subscribe to Studio")
    expect(page.get_by_label("Email")).to_have_value("ada@example.com")
    expect(page.locator(".summary")).to_contain_text("€20.00 per month")
    expect(page.get_by_label("Card", exact=True)).to_be_checked()
    # The other methods' fields show only once chosen.
    expect(page.get_by_label("IBAN")).to_be_hidden()
    page.get_by_label("Full name").fill("Ada Lovelace")
    fill_card(page)
    shoot(page, "checkout-en-card")
    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(THANKS)
    assert page.url.endswith(session_id)

    session = shop.sdk.v1.checkout.sessions.retrieve(session_id, {"expand": ["subscription"]})
    assert (session.status, session.payment_status) == ("complete", "paid")
    subscription = session.subscription
    assert not isinstance(subscription, str) and subscription is not None
    assert subscription.status == "active"
    method = shop.sdk.v1.payment_methods.retrieve(str(subscription.default_payment_method))
    assert (method.type, method.card and method.card.last4) == ("card", "4242")
    assert shop.sdk.v1.customers.retrieve(str(session.customer)).email == "ada@example.com"
    completed = shop.sdk.v1.events.list({"type": "checkout.session.completed"}).data
    assert [e.data.object["id"] for e in completed] == [session_id]
    created = shop.sdk.v1.events.list({"type": "customer.subscription.created"}).data
    assert [e.data.object["id"] for e in created] == [subscription.id]


def test_subscribe_with_a_sepa_iban_in_german(page: Page, shop: Shop) -> None:
    session_id = open_checkout(page, shop, locale="de", subscription_data={"trial_period_days": 14})
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Studio abonnieren")
    summary = page.locator(".summary")
    expect(summary).to_contain_text("Kostenlose Testphase")
    expect(summary).to_contain_text("14 Tage")
    expect(summary).to_contain_text("20,00 € pro Monat")
    expect(summary).to_contain_text("Erste Zahlung von 20,00 € am")
    page.get_by_label("E-Mail").fill("bernd@example.de")
    page.get_by_label("Vollständiger Name").fill("Bernd Müller")
    page.get_by_label("SEPA-Lastschrift").check()
    page.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    expect(page.locator(".mandate")).to_contain_text("SEPA-Lastschriftmandat")
    shoot(page, "checkout-de-sepa")
    page.get_by_role("button", name="Testphase starten").click()
    expect(page).to_have_url(THANKS)

    session = shop.sdk.v1.checkout.sessions.retrieve(session_id, {"expand": ["subscription"]})
    assert (session.status, session.payment_status) == ("complete", "no_payment_required")
    subscription = session.subscription
    assert not isinstance(subscription, str) and subscription is not None
    assert subscription.status == "trialing"
    method = shop.sdk.v1.payment_methods.retrieve(str(subscription.default_payment_method))
    assert method.type == "sepa_debit"
    assert method.sepa_debit is not None and method.sepa_debit.last4 == "3000"
    customer = shop.sdk.v1.customers.retrieve(str(session.customer))
    assert customer.preferred_locales == ["de"]


@pytest.fixture
def indonesian_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="id-ID", viewport={"width": 420, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def test_subscribe_with_the_wallet_in_indonesian(indonesian_page: Page, shop: Shop) -> None:
    page = indonesian_page
    session_id = open_checkout(page, shop)  # no locale: the browser's language is used
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("h1")).to_have_text("Berlangganan Studio")
    page.get_by_label("Email").fill("sari@example.co.id")
    page.get_by_label("Nama lengkap").fill("Sari Wijaya")
    page.get_by_label("PayPal").check()
    expect(page.get_by_label("Nomor kartu")).to_be_hidden()
    page.get_by_role("button", name="Berlangganan").click()

    expect(page.locator("h1")).to_have_text("Setujui dengan PayPal")
    expect(page.get_by_label("Alamat email PayPal")).to_have_value("sari@example.co.id")
    shoot(page, "checkout-id-wallet")
    assert totals(shop)["subscriptions"] == 0  # nothing happens before the approval
    page.get_by_role("button", name="Setujui dan berlangganan").click()
    expect(page).to_have_url(THANKS)

    session = shop.sdk.v1.checkout.sessions.retrieve(session_id, {"expand": ["subscription"]})
    assert session.status == "complete"
    subscription = session.subscription
    assert not isinstance(subscription, str) and subscription is not None
    assert subscription.status == "active"
    method = shop.sdk.v1.payment_methods.retrieve(str(subscription.default_payment_method))
    assert method.type == "paypal"
    assert method.paypal is not None and method.paypal.payer_email == "sari@example.co.id"


def test_a_declined_card_shows_the_error_and_creates_nothing(page: Page, shop: Shop) -> None:
    before = totals(shop)
    session_id = open_checkout(page, shop)
    page.get_by_label("Email").fill("dan@example.com")
    page.get_by_label("Full name").fill("Dan")
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Subscribe").click()

    expect(page.locator("#card_number-error")).to_have_text(
        "Your card was declined. Please use another card."
    )
    expect(page.get_by_role("alert")).to_have_text("Please correct the highlighted fields.")
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Card number")).to_have_value("")  # never echoed back
    expect(page.get_by_label("Full name")).to_have_value("Dan")
    shoot(page, "checkout-declined")
    assert totals(shop) == before
    assert shop.sdk.v1.checkout.sessions.retrieve(session_id).status == "open"

    # The same session works with another card.
    fill_card(page)
    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(THANKS)
    after = totals(shop)
    assert after["subscriptions"] == before["subscriptions"] + 1
    assert after["customers"] == before["customers"] + 1


def test_a_promotion_code_discounts_the_first_invoice(page: Page, shop: Shop) -> None:
    coupon = shop.sdk.v1.coupons.create({"percent_off": 25, "duration": "once"})
    shop.sdk.v1.promotion_codes.create(
        {"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "WELCOME25"}
    )
    session_id = open_checkout(page, shop, allow_promotion_codes=True)
    page.get_by_label("Promotion code").fill("welcome25")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_contain_text("Promotion code WELCOME25 applied.")
    summary = page.locator(".summary")
    expect(summary).to_contain_text("25% off on the first payment")
    expect(summary).to_contain_text("−€5.00")
    expect(summary.locator(".total")).to_contain_text("€15.00")
    shoot(page, "checkout-promotion-code")
    page.get_by_label("Email").fill("eve@example.com")
    page.get_by_label("Full name").fill("Eve")
    fill_card(page)
    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(THANKS)

    session = shop.sdk.v1.checkout.sessions.retrieve(session_id, {"expand": ["invoice"]})
    assert (session.amount_subtotal, session.amount_total) == (2000, 1500)
    invoice = session.invoice
    assert not isinstance(invoice, str) and invoice is not None
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (2000, 1500, 1500)
    assert invoice.total_discount_amounts and invoice.total_discount_amounts[0].amount == 500


def test_an_expired_session_shows_a_clear_page_and_cannot_be_completed(page: Page, shop: Shop) -> None:
    session_id = open_checkout(page, shop)
    page.get_by_label("Email").fill("fay@example.com")
    page.get_by_label("Full name").fill("Fay")
    fill_card(page)
    shop.sdk.v1.checkout.sessions.expire(session_id)
    before = totals(shop)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("h1")).to_have_text("This checkout has expired")
    expect(page.get_by_role("link", name="Go back")).to_have_attribute("href", CANCEL_URL)
    shoot(page, "checkout-expired")
    assert totals(shop) == before
    response = page.goto(page.url)
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_have_text("This checkout has expired")
    assert shop.sdk.v1.checkout.sessions.retrieve(session_id).status == "expired"
