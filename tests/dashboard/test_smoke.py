from __future__ import annotations

from fastapi.testclient import TestClient

from tests.dashboard.conftest import Business

PAGES = [
    "/dashboard",
    "/dashboard/customers",
    "/dashboard/subscriptions",
    "/dashboard/subscriptions?tab=canceled",
    "/dashboard/coupons",
    "/dashboard/settings/portal",
    "/dashboard/webhooks",
    "/dashboard/api-keys",
    "/dashboard/outbox",
]


def test_every_page_renders(admin: TestClient, business: Business) -> None:
    customer = business.customer()
    subscription = business.subscribe(customer)
    business.cancel(subscription, feedback="too_expensive", comment="Too much")
    for path in [*PAGES, f"/dashboard/subscriptions/{subscription}", f"/dashboard/customers/{customer}"]:
        answer = admin.get(path)
        assert answer.status_code == 200, (path, answer.text[:3000])
