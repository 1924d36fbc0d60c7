"""What the fuzz tests share: Stripe's bracket encoding, the error shape, and a small seeded business."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi.testclient import TestClient


def stripe_encode(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten parameters the way Stripe's SDKs do: `a[b]=…`, `items[0][price]=…`.

    OpenAPI's `deepObject` only defines one level of object; this is what the API (and Stripe)
    accepts for nesting and arrays. `None` becomes `""` (which unsets a field), empty objects and
    arrays send nothing.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return pairs


def _flatten(prefix: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _flatten(f"{prefix}[{key}]", child, pairs)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            _flatten(f"{prefix}[{index}]", child, pairs)
    elif value is None:
        pairs.append((prefix, ""))
    elif isinstance(value, bool):
        pairs.append((prefix, "true" if value else "false"))
    elif isinstance(value, str):
        pairs.append((prefix, value))
    elif isinstance(value, int):
        pairs.append((prefix, _int_text(value)))
    else:
        pairs.append((prefix, json.dumps(value)))


def _int_text(value: int) -> str:
    # Python refuses to print integers of more than 4300 digits; one just past the limit is as huge.
    try:
        return str(value)
    except ValueError:
        return ("-" if value < 0 else "") + "9" * 4301


def assert_stripe_error(status: int, text: str) -> None:
    """A 4xx body is Stripe's error object: `{"error": {"type": str, "message": str, ...}}`."""
    assert 400 <= status < 500, f"expected a 4xx, got {status}: {text[:500]}"
    body = json.loads(text)
    assert isinstance(body, dict) and set(body) == {"error"}, text[:500]
    error = body["error"]
    assert isinstance(error.get("type"), str) and error["type"], text[:500]
    assert isinstance(error.get("message"), str) and error["message"], text[:500]
    for optional in ("code", "param"):
        assert optional not in error or isinstance(error[optional], str), text[:500]


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seed(client: TestClient) -> dict[str, str]:
    """One object of each kind, made through the API; keyed by the path parameter naming it."""
    product = _ok(client.post("/v1/products", data={"name": "Fuzz plan"}))["id"]
    price = _ok(
        client.post(
            "/v1/prices",
            data={
                "product": product,
                "unit_amount": "2000",
                "currency": "eur",
                "recurring[interval]": "month",
            },
        )
    )["id"]
    coupon = _ok(client.post("/v1/coupons", data={"percent_off": "25", "duration": "once"}))["id"]
    promotion_code = _ok(
        client.post(
            "/v1/promotion_codes",
            data={"promotion[type]": "coupon", "promotion[coupon]": coupon, "code": "FUZZ25"},
        )
    )["id"]
    customer = _ok(
        client.post(
            "/v1/customers",
            data={
                "email": "fuzz@example.com",
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_visa",
            },
        )
    )["id"]
    payment_method = _ok(client.get(f"/v1/customers/{customer}/payment_methods"))["data"][0]["id"]
    subscription = _ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": price})
    )
    clock = _ok(client.post("/v1/test_helpers/test_clocks", data={"frozen_time": "1767225600"}))["id"]
    endpoint = _ok(
        client.post(
            "/v1/webhook_endpoints",
            data={"url": "https://hooks.example/stripe", "enabled_events[]": "*"},
        )
    )["id"]
    checkout = _ok(
        client.post(
            "/v1/checkout/sessions",
            data={
                "mode": "subscription",
                "line_items[0][price]": price,
                "line_items[0][quantity]": "1",
                "success_url": "https://shop.example/thanks",
            },
        )
    )["id"]
    configuration = _ok(client.post("/v1/billing_portal/configurations"))["id"]
    campaign = _ok(
        client.post(
            "/v1/email_campaigns",
            data={
                "kind": "announcement",
                "segment[type]": "active",
                "content[en][subject]": "News",
                "content[en][body]": "Hello!",
            },
        )
    )["id"]
    event = _ok(client.get("/v1/events", params={"limit": "1"}))["data"][0]["id"]
    seeded = {
        "product_id": product,
        "price_id": price,
        "coupon_id": coupon,
        "promotion_code_id": promotion_code,
        "customer_id": customer,
        "payment_method_id": payment_method,
        "subscription_id": subscription["id"],
        "invoice_id": subscription["latest_invoice"],
        "clock_id": clock,
        "endpoint_id": endpoint,
        "checkout_id": checkout,
        "configuration_id": configuration,
        "campaign_id": campaign,
        "event_id": event,
    }
    messages = _ok(client.get("/v1/email_messages", params={"limit": "1"}))["data"]
    if messages:
        seeded["message_id"] = messages[0]["id"]
    return seeded
