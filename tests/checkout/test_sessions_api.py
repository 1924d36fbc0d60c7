"""`/v1/checkout/sessions`: Stripe's shape, validation naming the parameter, listing and expiring."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.checkout.conftest import CANCEL_URL, SUCCESS_URL, Catalog, create_session

from tenure.clock import FrozenClock
from tenure.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]


def stripe_fixture() -> dict[str, Any]:
    for candidate in (os.environ.get("TENURE_SPEC_DIR"), str(REPO.parent / "shared" / "spec")):
        path = Path(candidate or "") / "stripe-fixtures" / "checkout.session.json"
        if candidate and path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
    pytest.skip("the specification's stripe-fixtures are not beside the repository")


def test_create_has_stripes_shape(client: TestClient, catalog: Catalog) -> None:
    session = create_session(
        client, catalog.monthly, customer_email="ada@example.com", **{"metadata[plan]": "pro"}
    )
    assert set(stripe_fixture()) <= set(session)
    assert session["object"] == "checkout.session"
    assert session["id"].startswith("cs_") and len(session["id"]) >= 60
    assert session["mode"] == "subscription"
    assert (session["status"], session["payment_status"]) == ("open", "unpaid")
    assert session["url"].endswith(f"/checkout/{session['id']}")
    assert session["expires_at"] == session["created"] + 24 * 3600
    assert session["success_url"] == SUCCESS_URL  # the template stays as given
    assert session["cancel_url"] == CANCEL_URL
    assert session["customer"] is None and session["customer_email"] == "ada@example.com"
    assert session["payment_method_types"] == ["card", "sepa_debit", "paypal"]
    assert (session["currency"], session["amount_subtotal"], session["amount_total"]) == ("eur", 2000, 2000)
    assert session["total_details"] == {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
    assert session["metadata"] == {"plan": "pro"}
    assert session["subscription"] is None and session["tenure_reactivation_of"] is None

    again = client.get(f"/v1/checkout/sessions/{session['id']}").json()
    assert again == session


def test_trial_discount_and_options(client: TestClient, catalog: Catalog) -> None:
    client.post("/v1/coupons", data={"id": "TENOFF", "amount_off": "1000", "currency": "eur"})
    session = create_session(
        client,
        catalog.monthly,
        locale="de",
        client_reference_id="order-7",
        **{
            "line_items[0][quantity]": "2",
            "discounts[0][coupon]": "TENOFF",
            "subscription_data[trial_period_days]": "14",
            "payment_method_types[0]": "card",
        },
    )
    assert session["locale"] == "de" and session["client_reference_id"] == "order-7"
    assert session["discounts"] == [{"coupon": "TENOFF", "promotion_code": None}]
    assert session["payment_method_types"] == ["card"]
    # A trial: nothing is due today.
    assert (session["amount_subtotal"], session["amount_total"]) == (0, 0)

    items = client.get(f"/v1/checkout/sessions/{session['id']}/line_items").json()
    assert items["object"] == "list"
    [item] = items["data"]
    assert (item["object"], item["quantity"], item["amount_subtotal"], item["description"]) == (
        "item",
        2,
        4000,
        "Studio",
    )
    assert item["price"]["id"] == catalog.monthly
    expanded = client.get(f"/v1/checkout/sessions/{session['id']}?expand[]=line_items").json()
    assert expanded["line_items"]["data"] == items["data"]


def test_list_and_filters(client: TestClient, catalog: Catalog) -> None:
    customer = client.post("/v1/customers", data={"email": "bo@example.com"}).json()["id"]
    first = create_session(client, catalog.monthly)
    second = create_session(client, catalog.monthly, customer=customer)
    listed = client.get("/v1/checkout/sessions").json()
    assert listed["url"] == "/v1/checkout/sessions"
    assert [s["id"] for s in listed["data"]] == [second["id"], first["id"]]
    by_customer = client.get(f"/v1/checkout/sessions?customer={customer}").json()["data"]
    assert [s["id"] for s in by_customer] == [second["id"]]
    client.post(f"/v1/checkout/sessions/{first['id']}/expire")
    assert [s["id"] for s in client.get("/v1/checkout/sessions?status=expired").json()["data"]] == [
        first["id"]
    ]
    assert client.get("/v1/checkout/sessions?status=done").status_code == 400


def test_expire(client: TestClient, catalog: Catalog) -> None:
    session = create_session(client, catalog.monthly)
    expired = client.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert expired.status_code == 200
    body = expired.json()
    assert (body["status"], body["url"]) == ("expired", None)
    events = client.get("/v1/events?type=checkout.session.expired").json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [session["id"]]
    again = client.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert again.status_code == 400
    assert "open" in again.json()["error"]["message"]
    missing = client.post("/v1/checkout/sessions/cs_nothing/expire")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


def test_sessions_expire_on_their_own(client: TestClient, catalog: Catalog, runtime: Runtime) -> None:
    clock = FrozenClock(runtime.clock.now())
    runtime.clock = clock
    session = create_session(client, catalog.monthly, expires_at=str(clock.now() + 3600))
    clock.advance(3599)
    assert client.get(f"/v1/checkout/sessions/{session['id']}").json()["status"] == "open"
    clock.advance(1)
    assert client.get(f"/v1/checkout/sessions/{session['id']}").json()["status"] == "expired"
    assert client.get(f"/v1/checkout/sessions/{session['id']}").json()["status"] == "expired"
    events = client.get("/v1/events?type=checkout.session.expired").json()["data"]
    assert len(events) == 1


def test_the_worker_expires_due_sessions(client: TestClient, catalog: Catalog, runtime: Runtime) -> None:
    from tenure.checkout.service import run_expiry

    clock = FrozenClock(runtime.clock.now())
    runtime.clock = clock
    session = create_session(client, catalog.monthly, expires_at=str(clock.now() + 1800))
    assert run_expiry(runtime) == 0
    clock.advance(1800)
    assert run_expiry(runtime) == 1
    assert run_expiry(runtime) == 0
    events = client.get("/v1/events?type=checkout.session.expired").json()["data"]
    assert [e["data"]["object"]["id"] for e in events] == [session["id"]]


def _bad(catalog: Catalog) -> list[tuple[dict[str, str], str]]:
    base = {"mode": "subscription", "line_items[0][price]": catalog.monthly, "success_url": SUCCESS_URL}
    without_items = {k: v for k, v in base.items() if not k.startswith("line_items")}
    return [
        (without_items, "line_items"),
        ({**base, "line_items[0][price]": catalog.one_off}, "line_items[0][price]"),
        ({**base, "line_items[0][price]": "price_nothing"}, "line_items[0][price]"),
        ({**base, "line_items[1][price]": catalog.yearly_usd}, "line_items[1][price]"),
        ({**base, "line_items[0][price_data][currency]": "eur"}, "line_items[0][price_data]"),
        ({**base, "line_items[0][quantity]": "0"}, "line_items[0][quantity]"),
        ({**base, "success_url": "javascript:alert(1)"}, "success_url"),
        ({**base, "success_url": "/thanks"}, "success_url"),
        ({**base, "cancel_url": "ftp://shop.example/"}, "cancel_url"),
        ({**base, "mode": "payment"}, "mode"),
        ({**base, "mode": "donation"}, "mode"),
        ({**base, "customer": "cus_nothing"}, "customer"),
        ({**base, "customer_email": "not an email"}, "customer_email"),
        ({**base, "payment_method_types[0]": "ideal"}, "payment_method_types[0]"),
        ({**base, "locale": "xx"}, "locale"),
        ({**base, "expires_at": "1"}, "expires_at"),
        ({**base, "subscription_data[trial_period_days]": "0"}, "subscription_data[trial_period_days]"),
        ({**base, "subscription_data[trial_end]": "1"}, "subscription_data[trial_end]"),
        ({**base, "subscription_data[billing_cycle_anchor]": "1"}, "subscription_data[billing_cycle_anchor]"),
        ({**base, "discounts[0][coupon]": "NOPE"}, "discounts[0][coupon]"),
        ({**base, "discounts[0][promotion_code]": "promo_nothing"}, "discounts[0][promotion_code]"),
        ({**base, "allow_promotion_codes": "true", "discounts[0][coupon]": "HALF"}, "discounts"),
        ({**base, "metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]"),
    ]


def test_bad_input_is_a_400_naming_the_parameter(client: TestClient, catalog: Catalog) -> None:
    client.post("/v1/coupons", data={"id": "HALF", "percent_off": "50"})
    for data, param in _bad(catalog):
        response = client.post("/v1/checkout/sessions", data=data)
        assert response.status_code == 400, (param, response.text)
        error = response.json()["error"]
        assert error["param"] == param, (param, error)
        assert error["type"] == "invalid_request_error"
    assert client.get("/v1/checkout/sessions").json()["data"] == []


def test_references_and_currencies(client: TestClient, catalog: Catalog) -> None:
    usd_customer = client.post("/v1/customers", data={"email": "us@example.com"}).json()["id"]
    client.post(
        "/v1/subscriptions",
        data={
            "customer": usd_customer,
            "items[0][price]": catalog.yearly_usd,
            "payment_behavior": "default_incomplete",
        },
    )
    cases = [
        ({"customer": usd_customer}, "line_items[0][price]"),  # the customer pays in another currency
        ({"customer": usd_customer, "customer_email": "x@example.com"}, "customer_email"),
    ]
    for extra, param in cases:
        response = client.post(
            "/v1/checkout/sessions",
            data={"mode": "subscription", "line_items[0][price]": catalog.monthly, **extra},
        )
        assert (response.status_code, response.json()["error"]["param"]) == (400, param)
    unknown = client.post(
        "/v1/checkout/sessions",
        data={"mode": "subscription", "line_items[0][price]": "price_nope"},
    ).json()["error"]
    assert unknown["code"] == "resource_missing"
    sepa_in_dollars = client.post(
        "/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "line_items[0][price]": catalog.yearly_usd,
            "payment_method_types[0]": "sepa_debit",
        },
    )
    assert sepa_in_dollars.json()["error"]["param"] == "payment_method_types"
    dollars = create_session(client, catalog.yearly_usd)
    assert dollars["payment_method_types"] == ["card", "paypal"]  # SEPA only debits euros
    client.post("/v1/coupons", data={"id": "USD5", "amount_off": "500", "currency": "usd"})
    wrong_coupon = client.post(
        "/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "line_items[0][price]": catalog.monthly,
            "discounts[0][coupon]": "USD5",
        },
    )
    assert wrong_coupon.json()["error"]["param"] == "discounts[0][coupon]"


def test_idempotent_create(client: TestClient, catalog: Catalog) -> None:
    data = {"mode": "subscription", "line_items[0][price]": catalog.monthly}
    first = client.post("/v1/checkout/sessions", data=data, headers={"Idempotency-Key": "k1"})
    again = client.post("/v1/checkout/sessions", data=data, headers={"Idempotency-Key": "k1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    assert len(client.get("/v1/checkout/sessions").json()["data"]) == 1


def test_retrieve_unknown_is_a_404(client: TestClient) -> None:
    response = client.get("/v1/checkout/sessions/cs_nothing")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "id"
