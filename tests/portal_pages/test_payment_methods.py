"""Payment methods in the portal: add a card / SEPA / PayPal, make one the default, remove one,
refusals next to the field in the customer's language, and the `payment_method_update` deep link."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from tenure.runtime import Runtime
from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser

NEXT_YEAR = str(dt.date.today().year + 3)


def _configuration(shop: Shop) -> str:
    return shop.sdk.v1.billing_portal.configurations.create(
        {"features": {"payment_method_update": {"enabled": True}}}
    ).id


def _methods(shop: Shop, customer: str) -> list[stripe.PaymentMethod]:
    return list(shop.sdk.v1.customers.payment_methods.list(customer).data)


def _default(shop: Shop, customer: str) -> str | None:
    settings = shop.sdk.v1.customers.retrieve(customer).invoice_settings
    return settings.default_payment_method if settings else None  # type: ignore[return-value]


def _fill_card(page: Page, number: str, month: str = "12", year: str = NEXT_YEAR, cvc: str = "123") -> None:
    page.locator("#card_number").fill(number)
    page.locator("#card_exp_month").fill(month)
    page.locator("#card_exp_year").fill(year)
    page.locator("#card_cvc").fill(cvc)


def test_add_a_card_and_make_it_default(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    shop.subscribe(customer)
    page.goto(shop.portal(customer, configuration=_configuration(shop)))
    page.get_by_role("link", name="Manage payment methods").click()
    expect(page.get_by_role("heading", name="Payment methods", exact=True)).to_be_visible()
    expect(page.locator(".method")).to_have_count(1)
    _fill_card(page, "5555 5555 5555 4444")
    expect(page.get_by_label("Use as my default payment method").first).to_be_checked()
    page.get_by_role("button", name="Add card").click()
    expect(page.locator(".notice")).to_have_text(
        "Your payment method has been added and is now your default."
    )
    expect(page.locator(".method")).to_have_count(2)
    row = page.locator(".method", has_text="Mastercard ending in 4444")
    expect(row.locator(".badge")).to_have_text("Default")
    assert "5555555555554444" not in page.content() and "5555 5555" not in page.content()
    shoot(page, "en-payment-methods")

    methods = {pm.card.last4: pm.id for pm in _methods(shop, customer) if pm.card}
    assert set(methods) == {"4242", "4444"}
    assert _default(shop, customer) == methods["4444"]

    # Back to the first card as the default, by keyboard.
    visa = page.locator(".method", has_text="Visa ending in 4242")
    visa.get_by_role("button", name="Make default").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_have_text("Your default payment method has been changed.")
    assert _default(shop, customer) == methods["4242"]

    # The same card again adds nothing (a double submit neither).
    _fill_card(page, "5555555555554444")
    page.get_by_label("Use as my default payment method").first.uncheck()
    page.get_by_role("button", name="Add card").click()
    expect(page.locator(".notice")).to_have_text("This payment method was already saved.")
    assert len(_methods(shop, customer)) == 2


def test_add_sepa_in_german(page: Page, shop: Shop) -> None:
    customer = shop.customer(locales=["de"])
    page.goto(shop.portal(customer, configuration=_configuration(shop)) + "")
    page.goto(page.url.split("/portal")[0] + "/portal/payment-methods")
    expect(page.locator("h1")).to_have_text("Zahlungsmethoden")
    page.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    page.get_by_label("Name des Kontoinhabers").fill("Ada Lovelace")
    page.locator("#sepa_make_default").uncheck()
    page.get_by_role("button", name="Bankkonto hinzufügen").click()
    expect(page.locator(".notice")).to_have_text("Ihre Zahlungsmethode wurde hinzugefügt.")
    expect(page.locator(".method", has_text="SEPA-Lastschrift mit Endung 3000")).to_be_visible()
    assert "DE89370400440532013000" not in page.content()
    shoot(page, "de-payment-methods-sepa")
    sepa = [pm for pm in _methods(shop, customer) if pm.type == "sepa_debit"]
    assert len(sepa) == 1 and sepa[0].sepa_debit is not None and sepa[0].sepa_debit.last4 == "3000"
    assert sepa[0].billing_details.name == "Ada Lovelace"
    assert _default(shop, customer) != sepa[0].id  # left unticked

    # A mistyped IBAN is refused next to the field, in German, and not shown again.
    page.get_by_label("IBAN").fill("DE89370400440532013001")
    page.get_by_label("Name des Kontoinhabers").fill("Ada Lovelace")
    page.get_by_role("button", name="Bankkonto hinzufügen").click()
    expect(page.locator("#iban-error")).to_have_text(
        "Diese IBAN ist ungültig. Bitte prüfen Sie den Ländercode und die Ziffern."
    )
    expect(page.get_by_label("IBAN")).to_have_value("")
    expect(page.get_by_label("Name des Kontoinhabers")).to_have_value("Ada Lovelace")
    assert len(_methods(shop, customer)) == 2


def test_add_paypal_and_remove_a_method(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    page.goto(shop.portal(customer, configuration=_configuration(shop)))
    page.goto(page.url.split("/portal")[0] + "/portal/payment-methods")
    page.get_by_label("PayPal email address").fill("ada@paypal.example")
    page.locator("#paypal_make_default").uncheck()
    page.get_by_role("button", name="Connect PayPal").click()
    expect(page.locator(".notice")).to_have_text("Your payment method has been added.")
    row = page.locator(".method", has_text="PayPal (ada@paypal.example)")
    row.get_by_role("link", name="Remove").click()
    expect(page.get_by_role("heading", name="Remove payment method")).to_be_visible()
    shoot(page, "en-payment-method-remove")
    page.get_by_role("button", name="Remove").click()
    expect(page.locator(".notice")).to_have_text("The payment method has been removed.")
    expect(page.locator(".method")).to_have_count(1)
    assert [pm.type for pm in _methods(shop, customer)] == ["card"]


def test_a_declined_card_shows_the_error_in_place_and_creates_nothing(page: Page, shop: Shop) -> None:
    customer = shop.customer(locales=["fr"])
    page.goto(shop.portal(customer, configuration=_configuration(shop)))
    page.goto(page.url.split("/portal")[0] + "/portal/payment-methods")
    _fill_card(page, "4000 0000 0000 0002", month="07")
    page.get_by_role("button", name="Ajouter la carte").click()
    error = page.locator("#card_number-error")
    expect(error).to_have_text("Votre carte a été refusée. Veuillez utiliser une autre carte.")
    expect(page.locator("#card_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#card_number")).to_have_attribute("aria-describedby", "card_number-error")
    expect(page.locator("#card_number")).to_have_value("")
    expect(page.locator("#card_cvc")).to_have_value("")
    expect(page.locator("#card_exp_month")).to_have_value("07")
    assert "4000000000000002" not in page.content() and "4000 0000" not in page.content()
    shoot(page, "fr-card-declined")

    # A mistyped number (Luhn) and an expired date, each next to its field.
    _fill_card(page, "4242424242424241")
    page.get_by_role("button", name="Ajouter la carte").click()
    expect(page.locator("#card_number-error")).to_have_text(
        "Ce numéro de carte est incorrect. Veuillez le vérifier."
    )
    _fill_card(page, "4242424242424242", month="01", year="2020")
    page.get_by_role("button", name="Ajouter la carte").click()
    expect(page.locator("#card_expiry-error")).to_have_text(
        "Veuillez saisir une date d’expiration valide et non dépassée."
    )
    assert [pm.card.last4 for pm in _methods(shop, customer) if pm.card] == ["4242"]


def test_missing_fields_are_named_in_indonesian(page: Page, shop: Shop) -> None:
    customer = shop.customer(locales=["id"])
    page.goto(shop.portal(customer, configuration=_configuration(shop)))
    page.goto(page.url.split("/portal")[0] + "/portal/payment-methods")
    page.get_by_role("button", name="Tambahkan kartu").click()
    expect(page.locator("#card_number-error")).to_have_text("Masukkan nomor kartu Anda.")
    expect(page.locator("#card_cvc-error")).to_have_text("Masukkan kode keamanan.")
    expect(page.locator("#card_number")).to_be_focused()
    shoot(page, "id-card-missing")
    # The form in keyboard order, submitted with Enter.
    page.keyboard.type("4242 4242 4242 4242")
    for field, text in (("#card_exp_month", "12"), ("#card_exp_year", NEXT_YEAR), ("#card_cvc", "123")):
        page.keyboard.press("Tab")
        expect(page.locator(field)).to_be_focused()
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    expect(page.locator("#card_make_default")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Tambahkan kartu")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_have_text("Metode pembayaran Anda telah ditambahkan.")
    added = [pm.id for pm in _methods(shop, customer) if pm.card and str(pm.card.exp_year) == NEXT_YEAR]
    assert len(_methods(shop, customer)) == 2 and len(added) == 1
    assert _default(shop, customer) != added[0]  # "use as default" was unticked with Space


def test_deep_link_fixes_a_past_due_subscription(page: Page, shop: Shop, runtime: Runtime) -> None:
    sdk = shop.sdk
    start = runtime.clock.now()
    clock = sdk.v1.test_helpers.test_clocks.create({"frozen_time": start})
    customer = sdk.v1.customers.create(
        {
            "email": "ada@example.com",
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    ).id
    subscription = shop.subscribe(customer)
    declining = sdk.v1.payment_methods.attach("pm_card_chargeDeclined", {"customer": customer}).id
    sdk.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": declining}})
    sdk.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 32 * 86_400})
    assert sdk.v1.subscriptions.retrieve(subscription).status == "past_due"

    url = shop.portal(
        customer, configuration=_configuration(shop), flow_data={"type": "payment_method_update"}
    )
    page.goto(url)
    expect(page).to_have_url(f"{url.split('/portal')[0]}/portal/payment-methods")
    expect(page.locator(".banner")).to_contain_text("A payment of €20.00 is overdue.")

    # The method the retries use cannot be removed while the payment is overdue.
    page.locator(".method", has_text="Visa ending in 0002").get_by_role("link", name="Remove").click()
    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("alert")).to_contain_text("it cannot be removed")
    assert len(_methods(shop, customer)) == 2

    _fill_card(page, "4242424242424242")
    page.get_by_role("button", name="Add card").click()
    expect(page.locator(".notice")).to_have_text(
        "Your payment method has been updated. "
        "We will retry the payment with your new default payment method shortly."
    )
    shoot(page, "en-deep-link-payment-method")
    sdk.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": start + 32 * 86_400 + 3600})
    after = sdk.v1.subscriptions.retrieve(subscription, {"expand": ["latest_invoice"]})
    assert after.status == "active"
    invoice = after.latest_invoice
    assert isinstance(invoice, stripe.Invoice) and invoice.status == "paid"


def test_another_customers_method_is_not_found_and_posts_need_csrf(page: Page, shop: Shop) -> None:
    configuration = _configuration(shop)
    theirs = shop.customer(email="eve@example.com")
    their_method = _methods(shop, theirs)[0].id
    page.goto(shop.portal(shop.customer(), configuration=configuration))
    base = page.url.split("/portal")[0]
    response = page.goto(f"{base}/portal/payment-methods/{their_method}/remove")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    token = page.request.get(f"{base}/portal/payment-methods").text().split('name="csrf_token" value="')[1]
    token = token.split('"')[0]
    for action in ("remove", "default"):
        answer = page.request.post(
            f"{base}/portal/payment-methods/{their_method}/{action}", form={"csrf_token": token}
        )
        assert answer.status == 404
    refused = page.request.post(
        f"{base}/portal/payment-methods",
        form={"type": "card", "card_number": "4242424242424242", "card_exp_month": "12"},
    )
    assert refused.status == 403 and "This form has expired" in refused.text()
    assert [pm.id for pm in _methods(shop, theirs)] == [their_method]


def test_the_page_is_off_unless_configured(page: Page, shop: Shop) -> None:
    page.goto(shop.portal(shop.customer()))
    response = page.goto(page.url.split("/portal")[0] + "/portal/payment-methods")
    assert response is not None and response.status == 404


def test_a_double_submitted_card_is_saved_once(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    page.goto(shop.portal(customer, configuration=_configuration(shop)))
    url = page.url.split("/portal")[0] + "/portal/payment-methods"
    token = page.request.get(url).text().split('name="csrf_token" value="')[1].split('"')[0]
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    form = {
        "csrf_token": token,
        "type": "card",
        "card_number": "5555555555554444",
        "card_exp_month": "12",
        "card_exp_year": NEXT_YEAR,
        "card_cvc": "123",
        "make_default": "1",
    }

    def submit() -> str:
        with httpx.Client(cookies=cookies) as client:
            return client.post(url, data=form).headers["location"]

    with ThreadPoolExecutor(max_workers=2) as pool:
        locations = sorted(pool.map(lambda _: submit(), range(2)))
    assert locations == [
        "/portal/payment-methods?notice=added_default",
        "/portal/payment-methods?notice=exists",
    ]
    cards = [pm for pm in _methods(shop, customer) if pm.card and pm.card.last4 == "4444"]
    assert len(cards) == 1
    assert _default(shop, customer) == cards[0].id
