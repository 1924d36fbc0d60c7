from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

PRODUCTS = "/v1/products"
PRICES = "/v1/prices"
FIXTURE = STRIPE_FIXTURES / "price.json"


def _count(runtime: Runtime, model: type[Product] | type[Price]) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _events(client: TestClient, pattern: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/v1/events", params={"type": pattern, "limit": 100}).json()[
        "data"
    ]
    return list(reversed(events))


@pytest.fixture
def product(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.post(PRODUCTS, data={"name": "Gold"}).json()
    return body


def _price(client: TestClient, product_id: str, **params: Any) -> dict[str, Any]:
    response = client.post(
        PRICES, data={"product": product_id, "currency": "usd", "unit_amount": "2000", **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_recurring_price_matches_stripe_shape(client: TestClient, product: dict[str, Any]) -> None:
    price = _price(client, product["id"], **{"recurring[interval]": "month", "nickname": "Monthly"})
    fixture = json.loads(FIXTURE.read_text())
    assert set(price) == set(fixture)
    assert set(price["recurring"]) == set(fixture["recurring"])
    assert price["id"].startswith("price_")
    assert price["object"] == "price"
    assert (price["type"], price["unit_amount"], price["unit_amount_decimal"]) == ("recurring", 2000, "2000")
    assert price["recurring"] == {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    assert (price["product"], price["nickname"], price["active"]) == (product["id"], "Monthly", True)
    assert client.get(f"{PRICES}/{price['id']}").json() == price
    assert [e["data"]["object"] for e in _events(client, "price.created")] == [price]


def test_one_time_price_and_currency_case(client: TestClient, product: dict[str, Any]) -> None:
    price = _price(client, product["id"], currency="JPY", unit_amount="0")
    assert (price["type"], price["recurring"], price["currency"], price["unit_amount"]) == (
        "one_time",
        None,
        "jpy",
        0,
    )


def test_recurring_options(client: TestClient, product: dict[str, Any]) -> None:
    price = _price(
        client,
        product["id"],
        **{
            "recurring[interval]": "week",
            "recurring[interval_count]": "2",
            "recurring[trial_period_days]": "14",
            "recurring[usage_type]": "licensed",
        },
    )
    assert price["recurring"]["interval"] == "week"
    assert price["recurring"]["interval_count"] == 2
    assert price["recurring"]["trial_period_days"] == 14


@pytest.mark.parametrize(("interval", "longest"), [("day", 365), ("week", 52), ("month", 12), ("year", 1)])
def test_interval_is_at_most_one_year(
    client: TestClient, runtime: Runtime, product: dict[str, Any], interval: str, longest: int
) -> None:
    ok = _price(
        client, product["id"], **{"recurring[interval]": interval, "recurring[interval_count]": longest}
    )
    assert ok["recurring"]["interval_count"] == longest
    too_long = client.post(
        PRICES,
        data={
            "product": product["id"],
            "currency": "usd",
            "unit_amount": "100",
            "recurring[interval]": interval,
            "recurring[interval_count]": str(longest + 1),
        },
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["param"] == "recurring[interval_count]"
    assert _count(runtime, Price) == 1


def test_product_data_creates_the_product(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        PRICES,
        data={
            "currency": "eur",
            "unit_amount": "900",
            "product_data[name]": "Starter",
            "product_data[id]": "starter",
            "product_data[metadata][plan]": "s",
        },
    )
    assert response.status_code == 200
    price = response.json()
    assert price["product"] == "starter"
    product = client.get(f"{PRODUCTS}/starter").json()
    assert (product["name"], product["metadata"]) == ("Starter", {"plan": "s"})
    assert [e["type"] for e in _events(client, "product.*")] == ["product.created"]
    clash = client.post(
        PRICES,
        data={
            "currency": "eur",
            "unit_amount": "900",
            "product_data[name]": "Again",
            "product_data[id]": "starter",
        },
    )
    assert clash.status_code == 400
    assert clash.json()["error"]["param"] == "product_data[id]"
    assert (_count(runtime, Product), _count(runtime, Price)) == (1, 1)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"unit_amount": "100"}, "currency", "parameter_missing"),
        ({"currency": "usd"}, "unit_amount", "parameter_missing"),
        ({"currency": "usd", "unit_amount": "100"}, "product", "parameter_missing"),
        ({"currency": "xyz", "unit_amount": "100", "product": "{product}"}, "currency", "parameter_invalid"),
        (
            {"currency": "usd", "unit_amount": "-5", "product": "{product}"},
            "unit_amount",
            "parameter_invalid",
        ),
        (
            {"currency": "usd", "unit_amount": "1.5", "product": "{product}"},
            "unit_amount",
            "parameter_invalid",
        ),
        (
            {"currency": "usd", "unit_amount": "1000000000000", "product": "{product}"},
            "unit_amount",
            "parameter_invalid",
        ),
        ({"currency": "usd", "unit_amount": "100", "product": "prod_nope"}, "product", "resource_missing"),
        (
            {"currency": "usd", "unit_amount": "100", "product": "{product}", "product_data[name]": "x"},
            "product_data",
            "parameter_invalid",
        ),
        ({"currency": "usd", "unit_amount": "100", "product_data[id]": "x"}, "product_data[name]", None),
        (
            {
                "currency": "usd",
                "unit_amount": "100",
                "product": "{product}",
                "recurring[interval]": "fortnight",
            },
            "recurring[interval]",
            "parameter_invalid",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": "100",
                "product": "{product}",
                "recurring[interval_count]": "1",
            },
            "recurring[interval]",
            "parameter_missing",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": "100",
                "product": "{product}",
                "recurring[interval]": "month",
                "recurring[interval_count]": "0",
            },
            "recurring[interval_count]",
            "parameter_invalid",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": "100",
                "product": "{product}",
                "recurring[interval]": "month",
                "recurring[trial_period_days]": "-1",
            },
            "recurring[trial_period_days]",
            "parameter_invalid",
        ),
        (
            {
                "currency": "usd",
                "unit_amount": "100",
                "product": "{product}",
                "recurring[interval]": "month",
                "recurring[usage_type]": "metered",
            },
            "recurring[usage_type]",
            "parameter_invalid",
        ),
        (
            {"currency": "usd", "unit_amount": "100", "product": "{product}", "lookup_key": "k" * 201},
            "lookup_key",
            "parameter_invalid",
        ),
        (
            {"currency": "usd", "unit_amount": "100", "product": "{product}", "tiers_mode": "volume"},
            "tiers_mode",
            "parameter_unknown",
        ),
        (
            {"currency": "usd", "unit_amount": "100", "product": "{product}", "metadata[x]": "v" * 501},
            "metadata[x]",
            "parameter_invalid",
        ),
    ],
)
def test_create_validation_writes_nothing(
    client: TestClient,
    runtime: Runtime,
    product: dict[str, Any],
    params: dict[str, str],
    param: str,
    code: str | None,
) -> None:
    data = {key: value.replace("{product}", product["id"]) for key, value in params.items()}
    response = client.post(PRICES, data=data)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert _count(runtime, Price) == 0
    assert _count(runtime, Product) == 1
    assert _events(client, "price.*") == []


def test_lookup_key_is_unique_among_active_prices(
    client: TestClient, runtime: Runtime, product: dict[str, Any]
) -> None:
    first = _price(client, product["id"], lookup_key="gold_monthly")
    clash = client.post(
        PRICES,
        data={"product": product["id"], "currency": "usd", "unit_amount": "1", "lookup_key": "gold_monthly"},
    )
    assert clash.status_code == 400
    assert clash.json()["error"]["param"] == "lookup_key"
    assert first["id"] in clash.json()["error"]["message"]
    assert _count(runtime, Price) == 1

    second = _price(client, product["id"], lookup_key="gold_monthly", transfer_lookup_key="true")
    assert second["lookup_key"] == "gold_monthly"
    assert client.get(f"{PRICES}/{first['id']}").json()["lookup_key"] is None
    (moved,) = _events(client, "price.updated")
    assert moved["data"]["object"]["id"] == first["id"]
    assert moved["data"]["previous_attributes"] == {"lookup_key": "gold_monthly"}

    # An archived price keeps its key without blocking a new active price from using it.
    client.post(f"{PRICES}/{second['id']}", data={"active": "false"})
    third = _price(client, product["id"], lookup_key="gold_monthly")
    reactivate = client.post(f"{PRICES}/{second['id']}", data={"active": "true"})
    assert reactivate.status_code == 400
    assert reactivate.json()["error"]["param"] == "lookup_key"
    assert client.get(f"{PRICES}/{second['id']}").json()["active"] is False
    listed = client.get(PRICES, params={"lookup_keys[]": "gold_monthly", "active": "true"}).json()["data"]
    assert [p["id"] for p in listed] == [third["id"]]


def test_update_mutable_fields_only(client: TestClient, product: dict[str, Any]) -> None:
    price = _price(client, product["id"], **{"metadata[a]": "1"})
    response = client.post(
        f"{PRICES}/{price['id']}",
        data={"nickname": "Launch", "lookup_key": "launch", "metadata[b]": "2", "active": "false"},
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["nickname"], updated["lookup_key"], updated["active"]) == ("Launch", "launch", False)
    assert updated["metadata"] == {"a": "1", "b": "2"}
    (event,) = _events(client, "price.updated")
    assert event["data"]["previous_attributes"] == {
        "nickname": None,
        "lookup_key": None,
        "active": True,
        "metadata": {"b": None},
    }
    for immutable in ("unit_amount", "currency", "recurring[interval]", "product"):
        refused = client.post(f"{PRICES}/{price['id']}", data={immutable: "1"})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "parameter_unknown"
        assert refused.json()["error"]["param"] == immutable.split("[")[0]
    cleared = client.post(f"{PRICES}/{price['id']}", data={"nickname": "", "lookup_key": ""}).json()
    assert (cleared["nickname"], cleared["lookup_key"]) == (None, None)
    assert client.post(f"{PRICES}/price_missing", data={"nickname": "x"}).status_code == 404


def test_default_price_cannot_be_archived(client: TestClient) -> None:
    product = client.post(
        PRODUCTS,
        data={"name": "Gold", "default_price_data[currency]": "usd", "default_price_data[unit_amount]": "1"},
    ).json()
    refused = client.post(f"{PRICES}/{product['default_price']}", data={"active": "false"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "active"
    assert client.get(f"{PRICES}/{product['default_price']}").json()["active"] is True
    client.post(f"{PRODUCTS}/{product['id']}", data={"default_price": ""})
    archived = client.post(f"{PRICES}/{product['default_price']}", data={"active": "false"})
    assert archived.json()["active"] is False


def test_list_filters(client: TestClient, product: dict[str, Any]) -> None:
    other = client.post(PRODUCTS, data={"name": "Other"}).json()
    monthly = _price(client, product["id"], lookup_key="m", **{"recurring[interval]": "month"})
    yearly = _price(client, product["id"], currency="eur", **{"recurring[interval]": "year"})
    once = _price(client, other["id"], lookup_key="o")
    archived = _price(client, other["id"], active="false")

    def ids(**params: Any) -> list[str]:
        response = client.get(PRICES, params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert ids() == [archived["id"], once["id"], yearly["id"], monthly["id"]]
    assert ids(active="true") == [once["id"], yearly["id"], monthly["id"]]
    assert ids(product=product["id"]) == [yearly["id"], monthly["id"]]
    assert ids(currency="EUR") == [yearly["id"]]
    assert ids(type="one_time") == [archived["id"], once["id"]]
    assert ids(**{"recurring[interval]": "month"}) == [monthly["id"]]
    assert ids(**{"lookup_keys[0]": "m", "lookup_keys[1]": "o"}) == [once["id"], monthly["id"]]
    assert ids(**{"created[lte]": monthly["created"] - 1}) == []
    for params, param in [
        ({"type": "metered"}, "type"),
        ({"currency": "xyz"}, "currency"),
        ({f"lookup_keys[{i}]": str(i) for i in range(11)}, "lookup_keys"),
        ({"recurring[interval]": "hour"}, "recurring[interval]"),
    ]:
        response = client.get(PRICES, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param


def test_expand_product(client: TestClient) -> None:
    product = client.post(PRODUCTS, data={"name": "Custom", "id": "custom-plan"}).json()
    generated = client.post(PRODUCTS, data={"name": "Generated"}).json()
    custom_price = _price(client, product["id"])
    price = _price(client, generated["id"])
    expanded = client.get(f"{PRICES}/{custom_price['id']}", params={"expand[]": "product"}).json()
    assert expanded["product"] == product
    listed = client.get(PRICES, params={"expand[]": "data.product"}).json()["data"]
    assert [p["product"]["id"] for p in listed] == [generated["id"], product["id"]]
    client.post(f"{PRODUCTS}/{generated['id']}", data={"default_price": price["id"]})
    nested = client.get(f"{PRICES}/{price['id']}", params={"expand[]": "product.default_price"}).json()
    assert nested["product"]["default_price"]["id"] == price["id"]
    created = client.post(
        PRICES,
        data={"product": generated["id"], "currency": "usd", "unit_amount": "5", "expand[]": "product"},
    ).json()
    assert created["product"]["name"] == "Generated"
    refused = client.get(f"{PRICES}/{price['id']}", params={"expand[]": "currency"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "expand"
