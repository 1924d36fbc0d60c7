"""Reloading the cancel page continues the customer's flow instead of counting a new one."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.retention.models import CancellationFlow
from tenure.runtime import Runtime
from tests.portal.conftest import SESSIONS, Shop
from tests.subscriptions.conftest import ok


def _flows(runtime: Runtime) -> list[str]:
    with runtime.sessionmaker() as session:
        return list(session.scalars(select(CancellationFlow.id).order_by(CancellationFlow.pk)))


def test_reloads_share_one_flow_and_a_new_session_starts_another(
    client: TestClient, app: FastAPI, runtime: Runtime, shop: Shop
) -> None:
    customer = shop.customer()
    subscription = shop.subscribe(customer)
    page = f"/portal/subscriptions/{subscription}/cancel"

    def browse() -> TestClient:
        browser = TestClient(app, base_url=runtime.settings.public_base_url)
        url = ok(client.post(SESSIONS, data={"customer": customer}))["url"]
        assert browser.get(url).status_code == 200  # opens the session: the cookie is set
        return browser

    first = browse()
    for _ in range(3):
        assert first.get(page).status_code == 200
    assert len(_flows(runtime)) == 1

    second = browse()
    assert second.get(page).status_code == 200
    assert len(set(_flows(runtime))) == 2
    with runtime.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(CancellationFlow)) == 2
