"""Billing details in the portal: only the fields of `allowed_updates`, validated in the customer's
language, saved through the customer service."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.portal_pages.conftest import Shop, shoot

pytestmark = pytest.mark.browser


def _configuration(shop: Shop, allowed: list[str]) -> str:
    return shop.sdk.v1.billing_portal.configurations.create(
        {"features": {"customer_update": {"enabled": True, "allowed_updates": allowed}}}
    ).id


def _csrf(page: Page, url: str) -> str:
    return page.request.get(url).text().split('name="csrf_token" value="')[1].split('"')[0]


def test_edit_email_and_address_in_french(page: Page, shop: Shop) -> None:
    customer = shop.customer(locales=["fr"])
    page.goto(shop.portal(customer, configuration=_configuration(shop, ["email", "address"])))
    expect(page.get_by_role("heading", name="Coordonnées de facturation")).to_be_visible()
    page.get_by_role("link", name="Modifier les coordonnées de facturation").click()
    expect(page.locator("h1")).to_have_text("Coordonnées de facturation")
    expect(page.get_by_label("Nom complet")).to_have_count(0)  # not an allowed update
    expect(page.get_by_label("Adresse e-mail")).to_have_value("ada@example.com")

    page.get_by_label("Adresse e-mail").fill("ada@@example")
    page.get_by_label("Numéro et rue").fill("12 rue des Lilas")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator("#email-error")).to_have_text("Veuillez saisir une adresse e-mail valide.")
    expect(page.locator("#address_city-error")).to_have_text("Veuillez indiquer la ville.")
    expect(page.locator("#address_country-error")).to_have_text("Veuillez choisir le pays.")
    expect(page.get_by_label("Numéro et rue")).to_have_value("12 rue des Lilas")
    shoot(page, "fr-billing-details-errors")
    assert shop.sdk.v1.customers.retrieve(customer).email == "ada@example.com"

    page.get_by_label("Adresse e-mail").fill("ada.lovelace@example.com")
    page.get_by_label("Code postal").fill("75011")
    page.get_by_label("Ville").fill("Paris")
    page.get_by_label("Pays").select_option("FR")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".notice")).to_have_text("Vos coordonnées de facturation ont été enregistrées.")
    expect(page.locator("section", has_text="Coordonnées de facturation")).to_contain_text("75011 Paris")
    expect(page.locator("section", has_text="Coordonnées de facturation")).to_contain_text("France")
    shoot(page, "fr-billing-details-saved")
    after = shop.sdk.v1.customers.retrieve(customer)
    assert after.email == "ada.lovelace@example.com"
    assert after.address is not None
    assert (after.address.line1, after.address.postal_code, after.address.city, after.address.country) == (
        "12 rue des Lilas",
        "75011",
        "Paris",
        "FR",
    )
    assert after.name == "Ada"


def test_a_field_that_is_not_allowed_is_ignored(page: Page, shop: Shop) -> None:
    customer = shop.customer()
    page.goto(shop.portal(customer, configuration=_configuration(shop, ["phone"])))
    base = page.url.split("/portal")[0]
    page.goto(f"{base}/portal/billing-details")
    page.get_by_label("Phone number").fill("+49 30 1234567")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Your billing details have been saved.")

    token = _csrf(page, f"{base}/portal/billing-details")
    posted = page.request.post(
        f"{base}/portal/billing-details",
        form={"csrf_token": token, "phone": "+49 30 7654321", "name": "Mallory", "email": "m@evil.example"},
        max_redirects=0,
    )
    assert posted.status == 303
    after = shop.sdk.v1.customers.retrieve(customer)
    assert (after.name, after.email, after.phone) == ("Ada", "ada@example.com", "+49 30 7654321")

    refused = page.request.post(f"{base}/portal/billing-details", form={"phone": "+1 555"})
    assert refused.status == 403
    assert shop.sdk.v1.customers.retrieve(customer).phone == "+49 30 7654321"


def test_billing_details_are_off_unless_configured(page: Page, shop: Shop) -> None:
    page.goto(shop.portal(shop.customer()))
    expect(page.get_by_role("link", name="Update billing details")).to_have_count(0)
    response = page.goto(page.url.split("/portal")[0] + "/portal/billing-details")
    assert response is not None and response.status == 404
