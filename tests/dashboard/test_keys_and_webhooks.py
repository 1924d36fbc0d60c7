"""API keys (shown once, roll, revoke) and webhook endpoints (deliveries, answers, resend)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tenure.webhooks.delivery import deliver_due
from tests.dashboard.conftest import Business, csrf_of
from tests.webhooks.conftest import Receiver

SECRET = re.compile(r"<code>(sk_test_\w+)</code>")


def works(app: FastAPI, secret: str) -> bool:
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as api:
        return api.get("/v1/customers").status_code == 200


def test_keys_are_shown_once_rolled_and_revoked(admin: TestClient, app: FastAPI) -> None:
    token = csrf_of(admin.get("/dashboard/api-keys").text)
    created = admin.post("/dashboard/api-keys", data={"csrf_token": token, "name": "Backend"})
    assert created.headers["cache-control"] == "no-store"
    secret = SECRET.search(created.text)
    assert secret and works(app, secret.group(1))
    listing = admin.get("/dashboard/api-keys").text
    assert secret.group(1) not in listing  # never again
    key_id = re.search(r'<tr id="key-(ak_\w+)">\s*<td data-label="Name">Backend</td>', listing)
    assert key_id

    rolled = admin.post(
        f"/dashboard/api-keys/{key_id.group(1)}/roll", data={"csrf_token": token, "expire_in": "0"}
    )
    new_secret = SECRET.search(rolled.text)
    assert new_secret and new_secret.group(1) != secret.group(1)
    assert works(app, new_secret.group(1))
    assert not works(app, secret.group(1))
    assert (
        admin.post(f"/dashboard/api-keys/{key_id.group(1)}/roll", data={"csrf_token": token}).status_code
        == 400
    )

    new_id = re.search(
        r'<tr id="key-(ak_\w+)">\s*<td data-label="Name">Backend</td>\s*<td[^>]*>sk_test_', rolled.text
    )
    assert new_id
    revoked = admin.post(f"/dashboard/api-keys/{new_id.group(1)}/revoke", data={"csrf_token": token})
    assert "The key was revoked." in revoked.text
    assert not works(app, new_secret.group(1))


def test_a_rolled_key_can_keep_working_for_a_while(admin: TestClient, app: FastAPI) -> None:
    token = csrf_of(admin.get("/dashboard/api-keys").text)
    created = admin.post("/dashboard/api-keys", data={"csrf_token": token, "name": "Deploy"})
    secret = SECRET.search(created.text)
    key_id = re.search(r'<tr id="key-(ak_\w+)">\s*<td data-label="Name">Deploy</td>', created.text)
    assert secret and key_id
    admin.post(f"/dashboard/api-keys/{key_id.group(1)}/roll", data={"csrf_token": token, "expire_in": "3600"})
    assert works(app, secret.group(1))
    assert "expires" in admin.get("/dashboard/api-keys").text


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def test_webhook_deliveries_show_their_answer_and_can_be_resent(
    admin: TestClient, business: Business, runtime: Runtime, receiver: Receiver
) -> None:
    token = csrf_of(admin.get("/dashboard/webhooks").text)
    refused = admin.post(
        "/dashboard/webhooks", data={"csrf_token": token, "url": "ftp://x", "enabled_events": "*"}
    )
    assert refused.status_code == 400 and "must be an http or https URL" in refused.text
    created = admin.post(
        "/dashboard/webhooks",
        data={"csrf_token": token, "url": receiver.url, "enabled_events": "customer.*", "description": "CRM"},
    )
    assert re.search(r"<code>whsec_\w+", created.text)
    endpoint = re.search(r'href="/dashboard/webhooks/(we_\w+)"', created.text)
    assert endpoint
    receiver.answer = lambda _index, _body: 500
    business.customer(email="hooked@example.com")
    deliver_due(runtime)
    page = admin.get(f"/dashboard/webhooks/{endpoint.group(1)}").text
    assert "customer.created" in page
    # The status line only: what the receiver answered is not kept (it may be an internal service).
    assert "HTTP 500 Internal Server Error" in page and "receiver says no" not in page
    event = re.search(r'name="event" value="(evt_\w+)"', page)
    assert event

    receiver.answer = lambda _index, _body: 200
    resent = admin.post(
        f"/dashboard/webhooks/{endpoint.group(1)}/resend", data={"csrf_token": token, "event": event.group(1)}
    )
    assert "A manual delivery was queued" in resent.text
    deliver_due(runtime)
    page = admin.get(f"/dashboard/webhooks/{endpoint.group(1)}").text
    assert "manual resend" in page and "HTTP 200" in page

    disabled = admin.post(
        f"/dashboard/webhooks/{endpoint.group(1)}/status", data={"csrf_token": token, "disabled": "true"}
    )
    assert "The endpoint is disabled" in disabled.text
