"""Small factories for the portal API tests: everything is made through the API, as users do."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.events.models import Event
from tenure.portal.models import PortalConfiguration, PortalSession
from tenure.runtime import Runtime
from tests.subscriptions.conftest import Catalog, ok

CONFIGURATIONS = "/v1/billing_portal/configurations"
SESSIONS = "/v1/billing_portal/sessions"


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """(configurations, sessions, events): what a refused request must leave unchanged."""
    with runtime.sessionmaker() as session:

        def count(model: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        return count(PortalConfiguration), count(PortalSession), count(Event)


def error_of(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


class Shop(Catalog):
    """The subscription catalog plus subscriptions, coupons and portal configurations."""

    def subscribe(self, customer: str, **extra: Any) -> str:
        data = {"customer": customer, "items[0][price]": self.monthly, **extra}
        return str(ok(self.client.post("/v1/subscriptions", data=data))["id"])

    def coupon(self, **extra: Any) -> str:
        data = {"percent_off": 30, "duration": "repeating", "duration_in_months": 3, **extra}
        return str(ok(self.client.post("/v1/coupons", data=data))["id"])

    def configuration(self, **data: Any) -> dict[str, Any]:
        return ok(self.client.post(CONFIGURATIONS, data=data))


@pytest.fixture
def shop(client: TestClient) -> Shop:
    return Shop(client)
