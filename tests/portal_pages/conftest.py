"""Browser tests: headless Chromium (Debian's package) driven by Playwright, against a live server."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
import stripe
from playwright.sync_api import Page

from tests.conftest import IN_CI
from tests.spec import SPEC_DIR

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"


def shoot(page: Page, name: str) -> None:
    """Keep a screenshot of the step as a test artifact (not committed). The SQLite and PostgreSQL
    runs of a test take the same name, maybe at once in two xdist workers: each writes a file of its
    own and renames it into place, so the artifact is always one whole screenshot."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    partial = target.with_name(f".{name}.{os.getpid()}.png")
    partial.write_bytes(page.screenshot(full_page=True))
    os.replace(partial, target)


def reason_labels() -> dict[str, dict[str, str]]:
    """The specification's labels, read from the spec's TSV itself (not from Tenure's copy)."""
    tsv = SPEC_DIR / "cancellation-reasons.tsv"
    if tsv.exists():
        with tsv.open(encoding="utf-8") as handle:
            return {row["code"]: row for row in csv.DictReader(handle, delimiter="\t")}
    if IN_CI:
        pytest.fail("the specification's cancellation-reasons.tsv was not found beside the repository")
    pytest.skip("the specification's cancellation-reasons.tsv is not beside the repository")


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


class Shop:
    """A small business made through the official SDK: a product, prices, a customer with a card."""

    def __init__(self, sdk: stripe.StripeClient) -> None:
        self.sdk = sdk
        product = sdk.v1.products.create({"name": "Studio"})
        self.monthly = sdk.v1.prices.create(
            {
                "product": product.id,
                "unit_amount": 2000,
                "currency": "eur",
                "recurring": {"interval": "month"},
            }
        ).id
        self.cheaper = sdk.v1.prices.create(
            {
                "product": product.id,
                "unit_amount": 1000,
                "currency": "eur",
                "recurring": {"interval": "month"},
                "nickname": "Studio Lite",
            }
        ).id

    def customer(self, *, locales: list[str] | None = None, email: str = "ada@example.com") -> str:
        customer = self.sdk.v1.customers.create(
            {
                "email": email,
                "name": "Ada",
                "preferred_locales": locales or [],
                "payment_method": "pm_card_visa",
                "invoice_settings": {"default_payment_method": "pm_card_visa"},
            }
        )
        return customer.id

    def subscribe(self, customer: str) -> str:
        return self.sdk.v1.subscriptions.create({"customer": customer, "items": [{"price": self.monthly}]}).id

    def portal(self, customer: str, **params: Any) -> str:
        session = self.sdk.v1.billing_portal.sessions.create({"customer": customer, **params})
        assert session.url
        return session.url

    def updated_events(self, subscription: str) -> list[Any]:
        events = self.sdk.v1.events.list({"type": "customer.subscription.updated", "limit": 100})
        return [e for e in events.data if e.data.object["id"] == subscription]


@pytest.fixture
def shop(sdk: stripe.StripeClient) -> Shop:
    return Shop(sdk)
