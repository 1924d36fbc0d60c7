from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Catalog:
    """A product with EUR monthly/yearly prices and a USD monthly price, made through the API."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.product = ok(client.post("/v1/products", data={"name": "Team plan"}))["id"]
        self.monthly = self.price(2000, "eur", "month")
        self.cheaper = self.price(1000, "eur", "month")
        self.yearly = self.price(20000, "eur", "year")
        self.usd = self.price(2500, "usd", "month")

    def price(self, amount: int, currency: str, interval: str) -> str:
        return ok(
            self.client.post(
                "/v1/prices",
                data={
                    "product": self.product,
                    "unit_amount": amount,
                    "currency": currency,
                    "recurring[interval]": interval,
                },
            )
        )["id"]

    def customer(self, card: str = "pm_card_visa", **extra: Any) -> str:
        return ok(
            self.client.post(
                "/v1/customers",
                data={
                    "email": "sub@example.com",
                    "payment_method": card,
                    "invoice_settings[default_payment_method]": card,
                    **extra,
                },
            )
        )["id"]


@pytest.fixture
def catalog(client: TestClient) -> Catalog:
    return Catalog(client)
