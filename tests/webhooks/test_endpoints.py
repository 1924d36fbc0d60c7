from __future__ import annotations

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.runtime import Runtime
from tenure.webhooks.models import WebhookEndpoint
from tenure.webhooks.signing import SecretBox

ENDPOINTS = "/v1/webhook_endpoints"
# The fields of Stripe's `webhook_endpoint` fixture (shared/spec/stripe-fixtures/webhook_endpoint.json).
STRIPE_FIELDS = {
    "api_version",
    "application",
    "created",
    "description",
    "enabled_events",
    "id",
    "livemode",
    "metadata",
    "object",
    "status",
    "url",
}


def _create(client: TestClient, **extra: str) -> dict[str, object]:
    data = {"url": "https://example.com/hooks", "enabled_events[]": "*", **extra}
    response = client.post(ENDPOINTS, data=data)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_shape_matches_stripe_and_secret_is_shown_once(client: TestClient, runtime: Runtime) -> None:
    created = client.post(
        ENDPOINTS,
        data={
            "url": "https://example.com/my/webhook/endpoint",
            "enabled_events[0]": "customer.created",
            "enabled_events[1]": "customer.subscription.*",
            "description": "This is my webhook, I like it a lot",
            "metadata[team]": "billing",
        },
    ).json()
    assert set(created) == STRIPE_FIELDS | {"secret", "signature_scheme"}
    assert created["object"] == "webhook_endpoint"
    assert created["id"].startswith("we_")
    assert created["status"] == "enabled"
    assert created["enabled_events"] == ["customer.created", "customer.subscription.*"]
    assert created["metadata"] == {"team": "billing"}
    assert created["signature_scheme"] == "stripe"
    secret = created["secret"]
    assert secret.startswith("whsec_")

    fetched = client.get(f"{ENDPOINTS}/{created['id']}").json()
    assert "secret" not in fetched
    assert fetched == {k: v for k, v in created.items() if k != "secret"}

    with runtime.sessionmaker() as session:
        row = session.scalars(select(WebhookEndpoint)).one()
        assert secret not in row.secret_encrypted
        assert SecretBox("test-secret").decrypt(row.secret_encrypted) == secret
    with pytest.raises(ValueError):
        SecretBox("another-key").decrypt(row.secret_encrypted)


def test_update_list_and_delete(client: TestClient) -> None:
    first = _create(client)
    second = _create(client, description="second")
    updated = client.post(
        f"{ENDPOINTS}/{first['id']}",
        data={
            "url": "http://localhost:4242/webhook",
            "enabled_events[]": ["invoice.paid", "invoice.payment_failed"],
            "description": "local",
            "disabled": "true",
            "metadata[a]": "1",
        },
    ).json()
    assert updated["url"] == "http://localhost:4242/webhook"
    assert updated["enabled_events"] == ["invoice.paid", "invoice.payment_failed"]
    assert updated["status"] == "disabled"
    assert updated["metadata"] == {"a": "1"}
    assert "secret" not in updated
    enabled = client.post(f"{ENDPOINTS}/{first['id']}", data={"disabled": "false", "description": ""}).json()
    assert enabled["status"] == "enabled"
    assert enabled["description"] is None

    listed = client.get(ENDPOINTS, params={"limit": 1}).json()
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]] == [second["id"]]
    assert listed["has_more"] is True
    assert listed["url"] == ENDPOINTS

    deleted = client.delete(f"{ENDPOINTS}/{first['id']}").json()
    assert deleted == {"id": first["id"], "object": "webhook_endpoint", "deleted": True}
    assert client.get(f"{ENDPOINTS}/{first['id']}").status_code == 404
    assert client.delete(f"{ENDPOINTS}/{first['id']}").status_code == 404


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"url": "ftp://example.com/hooks", "enabled_events[]": "*"}, "url"),
        ({"url": "javascript:alert(1)", "enabled_events[]": "*"}, "url"),
        ({"url": "example.com/hooks", "enabled_events[]": "*"}, "url"),
        (
            {"url": "https://example.com/hooks", "enabled_events[]": "charge.refunded.sometimes"},
            "enabled_events",
        ),
        ({"url": "https://example.com/hooks", "enabled_events[]": "nothing.*"}, "enabled_events"),
        ({"url": "https://example.com/hooks"}, "enabled_events"),
        ({"enabled_events[]": "*"}, "url"),
        (
            {"url": "https://example.com/hooks", "enabled_events[]": "*", "signature_scheme": "md5"},
            "signature_scheme",
        ),
        ({"url": "https://example.com/hooks", "enabled_events[]": "*", "secret": "whsec_x"}, "secret"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(
    client: TestClient, data: dict[str, str], param: str
) -> None:
    response = client.post(ENDPOINTS, data=data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert client.get(ENDPOINTS).json()["data"] == []


def test_bad_update_changes_nothing(client: TestClient) -> None:
    endpoint = _create(client)
    response = client.post(f"{ENDPOINTS}/{endpoint['id']}", data={"enabled_events[]": "made.up"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "enabled_events"
    response = client.post(f"{ENDPOINTS}/{endpoint['id']}", data={"url": "mailto:ops@example.com"})
    assert response.json()["error"]["param"] == "url"
    assert client.get(f"{ENDPOINTS}/{endpoint['id']}").json()["enabled_events"] == ["*"]
    assert client.post(f"{ENDPOINTS}/we_missing", data={"description": "x"}).status_code == 404


def test_with_the_official_sdk(live_server: str, secret_key: str) -> None:
    sdk = stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)
    created = sdk.v1.webhook_endpoints.create(
        {"url": "https://example.com/hooks", "enabled_events": ["customer.created", "invoice.paid"]}
    )
    assert isinstance(created, stripe.WebhookEndpoint)
    assert created.secret is not None and created.secret.startswith("whsec_")
    updated = sdk.v1.webhook_endpoints.update(created.id, {"disabled": True, "metadata": {"k": "v"}})
    assert updated.status == "disabled"
    assert updated.metadata.to_dict() == {"k": "v"}
    assert [e.id for e in sdk.v1.webhook_endpoints.list().data] == [created.id]
    with pytest.raises(stripe.InvalidRequestError) as bad:
        sdk.v1.webhook_endpoints.create({"url": "https://example.com", "enabled_events": ["not.a.type"]})
    assert bad.value.param == "enabled_events"
    assert sdk.v1.webhook_endpoints.delete(created.id).deleted is True
