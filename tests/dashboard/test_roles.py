"""Analysts read; they cannot reach settings, keys, webhooks or the outbox, nor change anything —
whether they click (no link is shown) or send the requests themselves."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.dashboard.models import StaffAction
from tenure.keys.models import ApiKey
from tenure.portal.models import PortalConfiguration
from tenure.runtime import Runtime
from tests.dashboard.conftest import Business, page_csrf

ADMIN_PAGES = [
    "/dashboard/settings/portal",
    "/dashboard/api-keys",
    "/dashboard/webhooks",
    "/dashboard/outbox",
]
READ_PAGES = ["/dashboard", "/dashboard/customers", "/dashboard/subscriptions", "/dashboard/coupons"]
ADMIN_POSTS = [
    "/dashboard/settings/portal",
    "/dashboard/settings/portal/coupon",
    "/dashboard/settings/portal/preview",
    "/dashboard/api-keys",
    "/dashboard/api-keys/ak_x/roll",
    "/dashboard/api-keys/ak_x/revoke",
    "/dashboard/webhooks",
    "/dashboard/webhooks/we_x/resend",
    "/dashboard/webhooks/we_x/status",
]
OPERATOR_POSTS = [
    "/dashboard/subscriptions/{sub}/cancel",
    "/dashboard/subscriptions/{sub}/keep",
    "/dashboard/subscriptions/{sub}/discount",
    "/dashboard/coupons",
    "/dashboard/coupons/c_x/archive",
    "/dashboard/promotion-codes",
    "/dashboard/promotion-codes/promo_x/archive",
]


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(ApiKey)) or 0,
            session.scalar(select(func.count()).select_from(PortalConfiguration)) or 0,
            session.scalar(select(func.count()).select_from(StaffAction)) or 0,
        )


def test_analyst_reads_but_has_no_admin_links(analyst: TestClient) -> None:
    for path in READ_PAGES:
        answer = analyst.get(path)
        assert answer.status_code == 200, path
        for admin_path in ADMIN_PAGES:
            assert f'href="{admin_path}"' not in answer.text
    assert "Operator actions" not in analyst.get("/dashboard/coupons").text


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_analyst_gets_403_on_admin_pages(analyst: TestClient, path: str) -> None:
    answer = analyst.get(path)
    assert answer.status_code == 403
    assert "You cannot do this" in answer.text


def test_analyst_gets_403_on_every_change(analyst: TestClient, business: Business, runtime: Runtime) -> None:
    subscription = business.subscribe(business.customer())
    token = page_csrf(analyst)  # a valid token: the role alone refuses
    before = _counts(runtime)
    for path in [*ADMIN_POSTS, *(p.format(sub=subscription) for p in OPERATOR_POSTS)]:
        answer = analyst.post(
            path,
            data={
                "csrf_token": token,
                "name": "x",
                "url": "https://example.com/hook",
                "enabled_events": "*",
                "mode": "immediately",
                "feedback": "other",
                "percent_off": "50",
                "coupon": "c_x",
                "event": "evt_x",
            },
        )
        assert answer.status_code == 403, path
    assert _counts(runtime) == before
    assert business.client.get(f"/v1/subscriptions/{subscription}").json()["status"] == "active"


def test_admin_reaches_everything(admin: TestClient) -> None:
    overview = admin.get("/dashboard")
    for path in [*READ_PAGES, *ADMIN_PAGES]:
        assert admin.get(path).status_code == 200, path
        assert f'href="{path}"' in overview.text
