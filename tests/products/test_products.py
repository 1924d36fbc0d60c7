from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.clock import FrozenClock
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

PRODUCTS = "/v1/products"
PRICES = "/v1/prices"
FIXTURE = STRIPE_FIXTURES / "product.json"


def _count(runtime: Runtime, model: type[Product] | type[Price]) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _events(client: TestClient, pattern: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = client.get("/v1/events", params={"type": pattern, "limit": 100}).json()[
        "data"
    ]
    return list(reversed(events))  # oldest first


def _product(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.post(PRODUCTS, data={"name": "Gold", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_shape_matches_stripe(client: TestClient) -> None:
    created = _product(client, description="The best plan", **{"metadata[tier]": "3"})
    assert set(created) == set(json.loads(FIXTURE.read_text()))
    assert created["object"] == "product"
    assert created["id"].startswith("prod_")
    assert (created["name"], created["description"], created["active"]) == ("Gold", "The best plan", True)
    assert created["metadata"] == {"tier": "3"}
    assert created["default_price"] is None
    assert created["updated"] == created["created"]
    assert client.get(f"{PRODUCTS}/{created['id']}").json() == created


def test_json_body_and_display_fields(client: TestClient) -> None:
    response = client.post(
        PRODUCTS,
        json={
            "name": "Silver",
            "active": False,
            "unit_label": "seat",
            "url": "https://example.com/silver",
            "images": ["https://example.com/a.png"],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["active"], body["unit_label"], body["url"]) == (False, "seat", "https://example.com/silver")
    assert body["images"] == ["https://example.com/a.png"]


def test_custom_id_is_kept_and_unique(client: TestClient, runtime: Runtime) -> None:
    assert _product(client, id="gold-plan")["id"] == "gold-plan"
    again = client.post(PRODUCTS, data={"name": "Other", "id": "gold-plan"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "resource_already_exists"
    assert again.json()["error"]["param"] == "id"
    assert _count(runtime, Product) == 1


def test_default_price_data_creates_the_default_price(client: TestClient) -> None:
    product = _product(
        client,
        **{
            "default_price_data[currency]": "EUR",
            "default_price_data[unit_amount]": "1500",
            "default_price_data[recurring][interval]": "month",
            "default_price_data[recurring][interval_count]": "3",
        },
    )
    price = client.get(f"{PRICES}/{product['default_price']}").json()
    assert (price["product"], price["currency"], price["unit_amount"]) == (product["id"], "eur", 1500)
    assert price["recurring"]["interval"] == "month"
    assert price["recurring"]["interval_count"] == 3
    expanded = client.get(f"{PRODUCTS}/{product['id']}", params={"expand[]": "default_price"}).json()
    assert expanded["default_price"] == price
    types = [e["type"] for e in _events(client, "product.*") + _events(client, "price.*")]
    assert types == ["product.created", "price.created"]
    assert _events(client, "product.created")[0]["data"]["object"]["default_price"] == price["id"]


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({}, "name", "parameter_missing"),
        ({"name": ""}, "name", "parameter_invalid"),
        ({"name": "x", "colour": "red"}, "colour", "parameter_unknown"),
        ({"name": "x", "active": "maybe"}, "active", "parameter_invalid"),
        ({"name": "x", "id": "has/slash"}, "id", "parameter_invalid"),
        ({"name": "x", "unit_label": "thirteen-char"}, "unit_label", "parameter_invalid"),
        (
            {"name": "x", **{f"images[{i}]": f"https://e.com/{i}" for i in range(9)}},
            "images",
            "parameter_invalid",
        ),
        ({"name": "x", "metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]", "parameter_invalid"),
        ({"name": "x", "default_price_data[currency]": "usd"}, "default_price_data[unit_amount]", None),
        (
            {"name": "x", "default_price_data[currency]": "xyz", "default_price_data[unit_amount]": "1"},
            "default_price_data[currency]",
            "parameter_invalid",
        ),
        (
            {"name": "x", "default_price_data[currency]": "usd", "default_price_data[unit_amount]": "-1"},
            "default_price_data[unit_amount]",
            "parameter_invalid",
        ),
        (
            {
                "name": "x",
                "default_price_data[currency]": "usd",
                "default_price_data[unit_amount]": "100",
                "default_price_data[recurring][interval]": "month",
                "default_price_data[recurring][interval_count]": "13",
            },
            "default_price_data[recurring][interval_count]",
            "parameter_invalid",
        ),
    ],
)
def test_create_validation_writes_nothing(
    client: TestClient, runtime: Runtime, params: dict[str, str], param: str, code: str | None
) -> None:
    response = client.post(PRODUCTS, data=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert _count(runtime, Product) == 0
    assert _count(runtime, Price) == 0
    assert _events(client, "product.*") == []


def test_update_changes_given_fields_and_records_event(client: TestClient) -> None:
    product = _product(client, description="old", **{"metadata[a]": "1", "metadata[b]": "2"})
    response = client.post(
        f"{PRODUCTS}/{product['id']}",
        data={"name": "Platinum", "description": "", "metadata[a]": "", "metadata[c]": "3"},
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["name"], updated["description"]) == ("Platinum", None)
    assert updated["metadata"] == {"b": "2", "c": "3"}
    assert updated["active"] is True
    (event,) = _events(client, "product.updated")
    assert event["data"]["object"] == updated
    previous = event["data"]["previous_attributes"]
    assert previous["name"] == "Gold"
    assert previous["description"] == "old"
    assert previous["metadata"] == {"a": "1", "c": None}


def test_updated_moves_only_on_a_real_change(client: TestClient, runtime: Runtime) -> None:
    clock = FrozenClock(1_800_000_000)
    runtime.clock = clock
    product = _product(client)
    clock.advance(3600)
    same = client.post(f"{PRODUCTS}/{product['id']}", data={"name": "Gold", "metadata[x]": ""}).json()
    assert same == product
    assert _events(client, "product.updated") == []
    renamed = client.post(f"{PRODUCTS}/{product['id']}", data={"name": "Gold 2"}).json()
    assert (renamed["created"], renamed["updated"]) == (1_800_000_000, 1_800_003_600)
    (event,) = _events(client, "product.updated")
    assert event["data"]["previous_attributes"] == {"name": "Gold", "updated": 1_800_000_000}


def test_update_validation(client: TestClient) -> None:
    product = _product(client)
    for params, param in [
        ({"name": ""}, "name"),
        ({"active": ""}, "active"),
        ({"unit_label": "x" * 13}, "unit_label"),
        ({"id": "new-id"}, "id"),
    ]:
        response = client.post(f"{PRODUCTS}/{product['id']}", data=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"] == param
    assert client.get(f"{PRODUCTS}/{product['id']}").json() == product
    missing = client.post(f"{PRODUCTS}/prod_missing", data={"name": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


def test_default_price_must_be_an_active_price_of_the_product(client: TestClient) -> None:
    product = _product(client)
    other = _product(client, name="Other")
    own = client.post(PRICES, data={"product": product["id"], "currency": "usd", "unit_amount": "100"}).json()
    foreign = client.post(
        PRICES, data={"product": other["id"], "currency": "usd", "unit_amount": "100"}
    ).json()
    archived = client.post(
        PRICES, data={"product": product["id"], "currency": "usd", "unit_amount": "50", "active": "false"}
    ).json()
    for price_id in (foreign["id"], archived["id"], "price_missing"):
        response = client.post(f"{PRODUCTS}/{product['id']}", data={"default_price": price_id})
        assert response.status_code == 400, price_id
        assert response.json()["error"]["param"] == "default_price"
    assert client.get(f"{PRODUCTS}/{product['id']}").json()["default_price"] is None

    chosen = client.post(f"{PRODUCTS}/{product['id']}", data={"default_price": own["id"]}).json()
    assert chosen["default_price"] == own["id"]
    unset = client.post(f"{PRODUCTS}/{product['id']}", data={"default_price": ""}).json()
    assert unset["default_price"] is None


def test_delete_only_without_prices(client: TestClient, runtime: Runtime) -> None:
    bare = _product(client)
    deleted = client.delete(f"{PRODUCTS}/{bare['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": bare["id"], "object": "product", "deleted": True}
    assert client.get(f"{PRODUCTS}/{bare['id']}").status_code == 404
    assert [e["data"]["object"]["id"] for e in _events(client, "product.deleted")] == [bare["id"]]

    priced = _product(
        client, **{"default_price_data[currency]": "usd", "default_price_data[unit_amount]": "1"}
    )
    refused = client.delete(f"{PRODUCTS}/{priced['id']}")
    assert refused.status_code == 400
    assert "prices" in refused.json()["error"]["message"]
    assert client.get(f"{PRODUCTS}/{priced['id']}").status_code == 200
    assert client.delete(f"{PRODUCTS}/prod_missing").status_code == 404
    assert _count(runtime, Product) == 1


def test_list_filters_and_pagination(client: TestClient) -> None:
    first = _product(client, name="A")
    second = _product(client, name="B", active="false")
    third = _product(client, name="C")
    listed = client.get(PRODUCTS).json()
    assert listed["url"] == PRODUCTS
    assert [p["id"] for p in listed["data"]] == [third["id"], second["id"], first["id"]]
    active = client.get(PRODUCTS, params={"active": "true"}).json()["data"]
    assert [p["id"] for p in active] == [third["id"], first["id"]]
    inactive = client.get(PRODUCTS, params={"active": "false"}).json()["data"]
    assert [p["id"] for p in inactive] == [second["id"]]
    by_ids = client.get(PRODUCTS, params=[("ids[]", first["id"]), ("ids[]", second["id"])]).json()["data"]
    assert [p["id"] for p in by_ids] == [second["id"], first["id"]]
    page = client.get(PRODUCTS, params={"limit": 1, "starting_after": third["id"]}).json()
    assert [p["id"] for p in page["data"]] == [second["id"]]
    assert page["has_more"] is True
    created = first["created"]
    assert len(client.get(PRODUCTS, params={"created[gte]": created}).json()["data"]) == 3
    assert client.get(PRODUCTS, params={"created[gt]": created + 3600}).json()["data"] == []
    bad = client.get(PRODUCTS, params={"active": "perhaps"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "active"
