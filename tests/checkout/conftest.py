"""Checkout fixtures: a small catalog made through the API, and a browser on the hosted page.

The browser fixtures (`page`, `shop`, `sdk`…) are the portal pages' own, imported here so both
suites drive the same Chromium set-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.portal_pages.conftest import sdk, shop  # noqa: F401

SUCCESS_URL = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://shop.example/pricing"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Catalog:
    monthly: str  # 20.00 EUR a month
    yearly_usd: str  # 100.00 USD a year
    one_off: str  # 5.00 EUR once


@pytest.fixture
def catalog(client: TestClient) -> Catalog:
    product = client.post("/v1/products", data={"name": "Studio"}).json()["id"]

    def price(**params: Any) -> str:
        response = client.post("/v1/prices", data={"product": product, **params})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    return Catalog(
        monthly=price(unit_amount=2000, currency="eur", **{"recurring[interval]": "month"}),
        yearly_usd=price(unit_amount=10000, currency="usd", **{"recurring[interval]": "year"}),
        one_off=price(unit_amount=500, currency="eur"),
    )


def create_session(client: TestClient, price: str, **params: Any) -> dict[str, Any]:
    data = {
        "mode": "subscription",
        "line_items[0][price]": price,
        "line_items[0][quantity]": "1",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        **params,
    }
    response = client.post("/v1/checkout/sessions", data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def card_form(csrf: str, **fields: str) -> dict[str, str]:
    """A complete card submission of the hosted form (any field can be overridden)."""
    return {
        "csrf_token": csrf,
        "action": "pay",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "method": "card",
        "card_number": "4242 4242 4242 4242",
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        **fields,
    }


def counts(client: TestClient) -> dict[str, int]:
    """How many customers, payment methods, subscriptions and invoices exist."""
    found = {}
    for name, path in (
        ("customers", "/v1/customers"),
        ("payment_methods", "/v1/payment_methods"),
        ("subscriptions", "/v1/subscriptions?status=all"),
        ("invoices", "/v1/invoices"),
    ):
        separator = "&" if "?" in path else "?"
        response = client.get(f"{path}{separator}limit=100")
        assert response.status_code == 200, response.text
        found[name] = len(response.json()["data"])
    return found
