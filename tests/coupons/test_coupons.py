from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.clock import FrozenClock
from tenure.coupons.models import Coupon
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

COUPONS = "/v1/coupons"
FIXTURE = STRIPE_FIXTURES / "coupon.json"
NOW = 1_800_000_000
DAY = 86400


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    frozen = FrozenClock(NOW)
    runtime.clock = frozen
    return frozen


def _count(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Coupon)) or 0)


def _events(client: TestClient, pattern: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/v1/events", params={"type": pattern, "limit": 100}).json()[
        "data"
    ]
    return list(reversed(events))


def _coupon(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.post(COUPONS, data=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_percent_coupon_matches_stripe_shape(client: TestClient, clock: FrozenClock) -> None:
    coupon = _coupon(
        client, percent_off="25.5", duration="repeating", duration_in_months="3", name="25.5% off"
    )
    assert set(coupon) == set(json.loads(FIXTURE.read_text()))
    assert coupon["object"] == "coupon"
    assert len(coupon["id"]) == 8
    assert "_" not in coupon["id"]
    assert coupon["percent_off"] == 25.5
    assert (coupon["duration"], coupon["duration_in_months"]) == ("repeating", 3)
    assert (coupon["amount_off"], coupon["currency"]) == (None, None)
    assert (coupon["times_redeemed"], coupon["valid"], coupon["created"]) == (0, True, NOW)
    assert client.get(f"{COUPONS}/{coupon['id']}").json() == coupon
    assert [e["data"]["object"] for e in _events(client, "coupon.created")] == [coupon]


def test_amount_coupon_with_custom_id_and_json(client: TestClient, clock: FrozenClock) -> None:
    response = client.post(
        COUPONS,
        json={
            "id": "WELCOME10",
            "amount_off": 1000,
            "currency": "EUR",
            "duration": "forever",
            "max_redemptions": 5,
        },
    )
    assert response.status_code == 200
    coupon = response.json()
    assert (coupon["id"], coupon["amount_off"], coupon["currency"]) == ("WELCOME10", 1000, "eur")
    assert (coupon["duration"], coupon["max_redemptions"], coupon["percent_off"]) == ("forever", 5, None)
    assert _coupon(client, percent_off="10")["duration"] == "once"
    assert _coupon(client, percent_off="33.3333")["percent_off"] == 33.3333
    as_json = client.post(COUPONS, json={"percent_off": 12.75}).json()
    assert as_json["percent_off"] == 12.75


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, "percent_off", "parameter_missing"),
        ({"percent_off": "10", "amount_off": "100", "currency": "usd"}, "amount_off", "parameter_invalid"),
        ({"percent_off": "0"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "-5"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "100.01"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "12.34567"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "NaN"}, "percent_off", "parameter_invalid"),
        ({"percent_off": "ten"}, "percent_off", "parameter_invalid"),
        ({"amount_off": "100"}, "currency", "parameter_missing"),
        ({"amount_off": "0", "currency": "usd"}, "amount_off", "parameter_invalid"),
        ({"amount_off": "-100", "currency": "usd"}, "amount_off", "parameter_invalid"),
        ({"amount_off": "100", "currency": "xyz"}, "currency", "parameter_invalid"),
        ({"percent_off": "10", "duration": "repeating"}, "duration_in_months", "parameter_missing"),
        ({"percent_off": "10", "duration_in_months": "3"}, "duration_in_months", "parameter_invalid"),
        (
            {"percent_off": "10", "duration": "repeating", "duration_in_months": "0"},
            "duration_in_months",
            "parameter_invalid",
        ),
        ({"percent_off": "10", "duration": "weekly"}, "duration", "parameter_invalid"),
        ({"percent_off": "10", "redeem_by": str(NOW)}, "redeem_by", "parameter_invalid"),
        ({"percent_off": "10", "redeem_by": str(NOW - DAY)}, "redeem_by", "parameter_invalid"),
        ({"percent_off": "10", "max_redemptions": "0"}, "max_redemptions", "parameter_invalid"),
        ({"percent_off": "10", "name": "n" * 41}, "name", "parameter_invalid"),
        ({"percent_off": "10", "id": "with space"}, "id", "parameter_invalid"),
        ({"percent_off": "10", "applies_to[products][]": "prod_x"}, "applies_to", "parameter_unknown"),
    ],
)
def test_create_validation_writes_nothing(
    client: TestClient, runtime: Runtime, clock: FrozenClock, params: dict[str, str], param: str, code: str
) -> None:
    response = client.post(COUPONS, data=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert _count(runtime) == 0
    assert _events(client, "coupon.*") == []


def test_custom_id_is_unique_even_after_deletion(client: TestClient, runtime: Runtime) -> None:
    _coupon(client, id="SUMMER", percent_off="10")
    assert client.delete(f"{COUPONS}/SUMMER").status_code == 200
    again = client.post(COUPONS, data={"id": "SUMMER", "percent_off": "20"})
    assert again.status_code == 400
    assert (again.json()["error"]["code"], again.json()["error"]["param"]) == (
        "resource_already_exists",
        "id",
    )
    assert _count(runtime) == 1


def test_valid_follows_redeem_by(client: TestClient, clock: FrozenClock) -> None:
    coupon = _coupon(client, percent_off="10", redeem_by=str(NOW + DAY))
    assert coupon["valid"] is True
    clock.advance(DAY)
    assert client.get(f"{COUPONS}/{coupon['id']}").json()["valid"] is True
    clock.advance(1)
    assert client.get(f"{COUPONS}/{coupon['id']}").json()["valid"] is False


def test_update_name_and_metadata_only(client: TestClient, clock: FrozenClock) -> None:
    coupon = _coupon(client, percent_off="10", name="Old", **{"metadata[a]": "1"})
    updated = client.post(f"{COUPONS}/{coupon['id']}", data={"name": "New", "metadata[b]": "2"}).json()
    assert (updated["name"], updated["metadata"], updated["percent_off"]) == (
        "New",
        {"a": "1", "b": "2"},
        10.0,
    )
    (event,) = _events(client, "coupon.updated")
    assert event["data"]["previous_attributes"] == {"name": "Old", "metadata": {"b": None}}
    for field, value in [("percent_off", "50"), ("duration", "forever"), ("redeem_by", str(NOW + DAY))]:
        refused = client.post(f"{COUPONS}/{coupon['id']}", data={field: value})
        assert refused.status_code == 400
        assert (refused.json()["error"]["code"], refused.json()["error"]["param"]) == (
            "parameter_unknown",
            field,
        )
    too_long = client.post(f"{COUPONS}/{coupon['id']}", data={"name": "n" * 41})
    assert too_long.json()["error"]["param"] == "name"
    assert client.get(f"{COUPONS}/{coupon['id']}").json() == updated
    unset = client.post(f"{COUPONS}/{coupon['id']}", data={"name": ""}).json()
    assert unset["name"] is None
    assert client.post(f"{COUPONS}/nope", data={"name": "x"}).status_code == 404


def test_delete_hides_the_coupon(client: TestClient, runtime: Runtime, clock: FrozenClock) -> None:
    kept = _coupon(client, percent_off="5")
    coupon = _coupon(client, percent_off="10")
    response = client.delete(f"{COUPONS}/{coupon['id']}")
    assert response.json() == {"id": coupon["id"], "object": "coupon", "deleted": True}
    assert client.get(f"{COUPONS}/{coupon['id']}").status_code == 404
    assert client.delete(f"{COUPONS}/{coupon['id']}").status_code == 404
    assert client.post(f"{COUPONS}/{coupon['id']}", data={"name": "x"}).status_code == 404
    assert [c["id"] for c in client.get(COUPONS).json()["data"]] == [kept["id"]]
    (event,) = _events(client, "coupon.deleted")
    assert (event["data"]["object"]["id"], event["data"]["object"]["valid"]) == (coupon["id"], False)
    assert _count(runtime) == 2  # kept for the discounts that already use it


def test_list_and_pagination(client: TestClient, clock: FrozenClock) -> None:
    ids = [_coupon(client, percent_off=str(10 + i))["id"] for i in range(3)]
    clock.advance(DAY)
    newest = _coupon(client, percent_off="50")["id"]
    listed = client.get(COUPONS, params={"limit": 2}).json()
    assert listed["url"] == COUPONS
    assert [c["id"] for c in listed["data"]] == [newest, ids[2]]
    assert listed["has_more"] is True
    later = client.get(COUPONS, params={"created[gt]": NOW}).json()["data"]
    assert [c["id"] for c in later] == [newest]
    exact = client.get(COUPONS, params={"created": NOW}).json()["data"]
    assert [c["id"] for c in exact] == list(reversed(ids))
