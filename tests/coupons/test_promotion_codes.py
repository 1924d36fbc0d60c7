from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.clock import FrozenClock
from tenure.coupons.models import PromotionCode
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

COUPONS = "/v1/coupons"
CODES = "/v1/promotion_codes"
FIXTURE = STRIPE_FIXTURES / "promotion_code.json"
NOW = 1_800_000_000
DAY = 86400


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    frozen = FrozenClock(NOW)
    runtime.clock = frozen
    return frozen


@pytest.fixture
def coupon(client: TestClient, clock: FrozenClock) -> dict[str, Any]:
    response = client.post(
        COUPONS, data={"id": "FALL", "percent_off": "20", "redeem_by": str(NOW + 30 * DAY)}
    )
    body: dict[str, Any] = response.json()
    return body


def _count(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(PromotionCode)) or 0)


def _events(client: TestClient, pattern: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/v1/events", params={"type": pattern, "limit": 100}).json()[
        "data"
    ]
    return list(reversed(events))


def _code(client: TestClient, coupon_id: str, **params: Any) -> dict[str, Any]:
    data = {"promotion[type]": "coupon", "promotion[coupon]": coupon_id, **params}
    response = client.post(CODES, data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_shape_has_both_api_versions(client: TestClient, coupon: dict[str, Any]) -> None:
    code = _code(client, coupon["id"], code="FALL20", **{"metadata[campaign]": "autumn"})
    assert set(code) == set(json.loads(FIXTURE.read_text())) | {"coupon"}
    assert code["id"].startswith("promo_")
    assert code["object"] == "promotion_code"
    assert code["promotion"] == {"coupon": "FALL", "type": "coupon"}
    assert code["coupon"] == client.get(f"{COUPONS}/FALL").json()
    assert (code["code"], code["active"], code["customer"], code["times_redeemed"]) == (
        "FALL20",
        True,
        None,
        0,
    )
    assert code["restrictions"] == {
        "first_time_transaction": False,
        "minimum_amount": None,
        "minimum_amount_currency": None,
    }
    assert code["metadata"] == {"campaign": "autumn"}
    assert client.get(f"{CODES}/{code['id']}").json() == code
    assert [e["data"]["object"]["id"] for e in _events(client, "promotion_code.created")] == [code["id"]]


def test_legacy_coupon_parameter_and_options(client: TestClient, coupon: dict[str, Any]) -> None:
    response = client.post(
        CODES,
        data={
            "coupon": "FALL",
            "code": "vip-fall",
            "customer": "cus_123",
            "expires_at": str(NOW + DAY),
            "max_redemptions": "10",
            "restrictions[first_time_transaction]": "true",
            "restrictions[minimum_amount]": "5000",
            "restrictions[minimum_amount_currency]": "USD",
            "restrictions[currency_options][eur][minimum_amount]": "4500",
        },
    )
    assert response.status_code == 200, response.text
    code = response.json()
    assert code["promotion"]["coupon"] == "FALL"
    assert (code["customer"], code["expires_at"], code["max_redemptions"]) == ("cus_123", NOW + DAY, 10)
    assert code["restrictions"] == {
        "first_time_transaction": True,
        "minimum_amount": 5000,
        "minimum_amount_currency": "usd",
        "currency_options": {"eur": {"minimum_amount": 4500}},
    }


def test_generated_code(client: TestClient, coupon: dict[str, Any]) -> None:
    code = _code(client, coupon["id"])["code"]
    assert len(code) == 8
    assert code.isalnum()
    assert code == code.upper()


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, "promotion", "parameter_missing"),
        ({"promotion[type]": "coupon"}, "promotion[coupon]", "parameter_missing"),
        (
            {"promotion[type]": "discount", "promotion[coupon]": "FALL"},
            "promotion[type]",
            "parameter_invalid",
        ),
        ({"promotion[coupon]": "FALL"}, "promotion[type]", "parameter_missing"),
        ({"promotion[type]": "coupon", "promotion[coupon]": "NOPE"}, "promotion[coupon]", "resource_missing"),
        ({"coupon": "NOPE"}, "coupon", "resource_missing"),
        ({"coupon": "FALL", "promotion[type]": "coupon", "promotion[coupon]": "OTHER"}, "coupon", None),
        ({"coupon": "FALL", "code": "has space"}, "code", "parameter_invalid"),
        ({"coupon": "FALL", "code": "ünïcode"}, "code", "parameter_invalid"),
        ({"coupon": "FALL", "code": "X" * 501}, "code", "parameter_invalid"),
        ({"coupon": "FALL", "expires_at": str(NOW)}, "expires_at", "parameter_invalid"),
        ({"coupon": "FALL", "expires_at": str(NOW + 31 * DAY)}, "expires_at", "parameter_invalid"),
        ({"coupon": "FALL", "max_redemptions": "0"}, "max_redemptions", "parameter_invalid"),
        (
            {"coupon": "FALL", "restrictions[minimum_amount]": "100"},
            "restrictions[minimum_amount_currency]",
            None,
        ),
        (
            {"coupon": "FALL", "restrictions[minimum_amount_currency]": "usd"},
            "restrictions[minimum_amount]",
            None,
        ),
        (
            {
                "coupon": "FALL",
                "restrictions[minimum_amount]": "-1",
                "restrictions[minimum_amount_currency]": "usd",
            },
            "restrictions[minimum_amount]",
            "parameter_invalid",
        ),
        (
            {
                "coupon": "FALL",
                "restrictions[minimum_amount]": "1",
                "restrictions[minimum_amount_currency]": "abc",
            },
            "restrictions[minimum_amount_currency]",
            "parameter_invalid",
        ),
        (
            {"coupon": "FALL", "restrictions[currency_options][eur][minimum_amount]": "1"},
            "restrictions[currency_options]",
            "parameter_invalid",
        ),
        (
            {
                "coupon": "FALL",
                "restrictions[minimum_amount]": "1",
                "restrictions[minimum_amount_currency]": "usd",
                "restrictions[currency_options][usd][minimum_amount]": "2",
            },
            "restrictions[currency_options][usd]",
            "parameter_invalid",
        ),
        (
            {
                "coupon": "FALL",
                "restrictions[minimum_amount]": "1",
                "restrictions[minimum_amount_currency]": "usd",
                "restrictions[currency_options][zzz][minimum_amount]": "2",
            },
            "restrictions[currency_options][zzz]",
            "parameter_invalid",
        ),
        ({"coupon": "FALL", "customer_account": "acct_1"}, "customer_account", "parameter_unknown"),
    ],
)
def test_create_validation_writes_nothing(
    client: TestClient,
    runtime: Runtime,
    coupon: dict[str, Any],
    params: dict[str, str],
    param: str,
    code: str | None,
) -> None:
    response = client.post(CODES, data=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    if code is not None:
        assert error["code"] == code
    assert _count(runtime) == 0
    assert _events(client, "promotion_code.*") == []


def test_active_codes_are_unique_regardless_of_case(
    client: TestClient, runtime: Runtime, coupon: dict[str, Any]
) -> None:
    first = _code(client, "FALL", code="Autumn")
    clash = client.post(CODES, data={"coupon": "FALL", "code": "AUTUMN"})
    assert clash.status_code == 400
    assert clash.json()["error"]["param"] == "code"
    inactive_twin = _code(client, "FALL", code="autumn", active="false")
    assert inactive_twin["active"] is False
    reactivate = client.post(f"{CODES}/{inactive_twin['id']}", data={"active": "true"})
    assert reactivate.status_code == 400
    assert reactivate.json()["error"]["param"] == "code"
    client.post(f"{CODES}/{first['id']}", data={"active": "false"})
    assert client.post(f"{CODES}/{inactive_twin['id']}", data={"active": "true"}).json()["active"] is True
    assert _count(runtime) == 2


def test_coupon_must_be_valid(client: TestClient, clock: FrozenClock, coupon: dict[str, Any]) -> None:
    client.post(COUPONS, data={"id": "GONE", "percent_off": "5"})
    client.delete(f"{COUPONS}/GONE")
    deleted = client.post(CODES, data={"coupon": "GONE"})
    assert (deleted.status_code, deleted.json()["error"]["code"]) == (400, "resource_missing")
    clock.advance(31 * DAY)
    expired = client.post(CODES, data={"coupon": "FALL"})
    assert (expired.status_code, expired.json()["error"]["code"]) == (400, "coupon_expired")


def test_update(client: TestClient, clock: FrozenClock, coupon: dict[str, Any]) -> None:
    code = _code(
        client,
        "FALL",
        **{"restrictions[minimum_amount]": "100", "restrictions[minimum_amount_currency]": "usd"},
    )
    updated = client.post(
        f"{CODES}/{code['id']}",
        data={
            "active": "false",
            "metadata[k]": "v",
            "restrictions[currency_options][eur][minimum_amount]": "90",
        },
    ).json()
    assert (updated["active"], updated["metadata"]) == (False, {"k": "v"})
    assert updated["restrictions"]["currency_options"] == {"eur": {"minimum_amount": 90}}
    (event,) = _events(client, "promotion_code.updated")
    assert event["data"]["previous_attributes"]["active"] is True
    for field in ("code", "coupon", "expires_at", "restrictions[minimum_amount]"):
        refused = client.post(f"{CODES}/{code['id']}", data={field: "1"})
        assert refused.status_code == 400, field
        assert refused.json()["error"]["code"] == "parameter_unknown"
    assert client.get(f"{CODES}/{code['id']}").json() == updated
    assert client.post(f"{CODES}/promo_missing", data={"active": "true"}).status_code == 404


def test_expired_code_cannot_be_reactivated(
    client: TestClient, clock: FrozenClock, coupon: dict[str, Any]
) -> None:
    code = _code(client, "FALL", expires_at=str(NOW + DAY), active="false")
    clock.advance(2 * DAY)
    refused = client.post(f"{CODES}/{code['id']}", data={"active": "true"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "active"
    assert client.get(f"{CODES}/{code['id']}").json()["active"] is False


def test_deleting_the_coupon_deactivates_its_codes(client: TestClient, coupon: dict[str, Any]) -> None:
    code = _code(client, "FALL", code="FALLOFF")
    client.delete(f"{COUPONS}/FALL")
    after = client.get(f"{CODES}/{code['id']}").json()
    assert after["active"] is False
    assert after["coupon"]["valid"] is False
    other = client.post(COUPONS, data={"percent_off": "5"}).json()
    assert _code(client, other["id"], code="falloff")["active"] is True


def test_list_filters(client: TestClient, clock: FrozenClock, coupon: dict[str, Any]) -> None:
    other = client.post(COUPONS, data={"id": "OTHER", "amount_off": "500", "currency": "usd"}).json()
    a = _code(client, "FALL", code="Alpha")
    b = _code(client, "FALL", code="Beta", customer="cus_b", active="false")
    c = _code(client, other["id"], code="Gamma")

    def ids(**params: Any) -> list[str]:
        response = client.get(CODES, params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(code="ALPHA") == [a["id"]]
    assert ids(coupon="FALL") == [b["id"], a["id"]]
    assert ids(active="false") == [b["id"]]
    assert ids(customer="cus_b") == [b["id"]]
    assert ids(**{"created[lt]": NOW}) == []


def test_expand_coupon(client: TestClient, coupon: dict[str, Any]) -> None:
    code = _code(client, "FALL")
    one = client.get(f"{CODES}/{code['id']}", params={"expand[]": "promotion.coupon"}).json()
    assert one["promotion"]["coupon"] == coupon
    listed = client.get(CODES, params={"expand[]": "data.promotion.coupon"}).json()
    assert listed["data"][0]["promotion"]["coupon"]["id"] == "FALL"
    refused = client.get(f"{CODES}/{code['id']}", params={"expand[]": "code"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "expand"
