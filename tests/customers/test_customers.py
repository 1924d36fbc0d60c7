"""Customers over HTTP: Stripe's shape, every validation error, events, test clocks, expansion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.customers.models import Customer
from tenure.events.models import Event
from tenure.payments.models import PaymentMethod
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

CUSTOMERS = "/v1/customers"
CLOCKS = "/v1/test_helpers/test_clocks"
FIXTURES = STRIPE_FIXTURES


def count(runtime: Runtime, model: type[Customer] | type[PaymentMethod] | type[Event]) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def events(runtime: Runtime, *types: str) -> list[Event]:
    with runtime.sessionmaker() as session:
        stmt = select(Event).order_by(Event.pk)
        if types:
            stmt = stmt.where(Event.type.in_(types))
        return list(session.scalars(stmt))


def create(client: TestClient, **data: Any) -> dict[str, Any]:
    response = client.post(CUSTOMERS, data=data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_shape_matches_stripe(client: TestClient) -> None:
    customer = create(client)
    fixture = json.loads((FIXTURES / "customer.json").read_text())
    assert set(customer) == set(fixture) | {"tenure_marketing_opt_out"}
    assert set(customer["invoice_settings"]) == set(fixture["invoice_settings"])
    assert customer["id"].startswith("cus_")
    assert customer["object"] == "customer"
    assert customer["address"] is None
    assert customer["balance"] == 0
    assert customer["preferred_locales"] == []
    assert customer["metadata"] == {}
    assert customer["next_invoice_sequence"] == 1
    assert 3 <= len(customer["invoice_prefix"]) <= 12 and customer["invoice_prefix"].isupper()
    assert customer["tenure_marketing_opt_out"] is False
    assert client.get(f"{CUSTOMERS}/{customer['id']}").json() == customer


def test_create_with_every_field_and_retrieve(client: TestClient, runtime: Runtime) -> None:
    customer = create(
        client,
        email="jenny@example.com",
        name="Jenny Rosen",
        phone="+15555555555",
        description="Founding member",
        **{
            "address[line1]": "1 Rue de Rivoli",
            "address[city]": "Paris",
            "address[postal_code]": "75001",
            "address[country]": "FR",
            "preferred_locales[]": ["fr", "en-gb"],
            "metadata[plan]": "gold",
        },
        balance="-500",
        invoice_prefix="JENNY01",
        tenure_marketing_opt_out="true",
    )
    assert customer["email"] == "jenny@example.com"
    assert customer["address"] == {
        "city": "Paris",
        "country": "FR",
        "line1": "1 Rue de Rivoli",
        "line2": None,
        "postal_code": "75001",
        "state": None,
    }
    assert customer["preferred_locales"] == ["fr", "en-GB"]
    assert customer["metadata"] == {"plan": "gold"}
    assert customer["balance"] == -500
    assert customer["invoice_prefix"] == "JENNY01"
    assert customer["tenure_marketing_opt_out"] is True
    assert client.get(f"{CUSTOMERS}/{customer['id']}").json() == customer
    [created] = events(runtime, "customer.created")
    assert created.data["object"] == customer
    assert created.created == customer["created"]


def test_json_body(client: TestClient) -> None:
    response = client.post(
        CUSTOMERS, json={"email": "a@example.com", "preferred_locales": ["de"], "balance": 10}
    )
    assert response.status_code == 200
    assert response.json()["preferred_locales"] == ["de"]


@pytest.mark.parametrize(
    ("data", "param", "code"),
    [
        ({"email": "not-an-email"}, "email", "parameter_invalid"),
        ({"email": "x" * 600 + "@example.com"}, "email", "parameter_invalid"),
        ({"phone": "+1" + "5" * 30}, "phone", "parameter_invalid"),
        ({"balance": "lots"}, "balance", "parameter_invalid"),
        ({"preferred_locales[]": "klingon"}, "preferred_locales", "parameter_invalid"),
        ({"preferred_locales[]": "en-ZZ"}, "preferred_locales", "parameter_invalid"),
        ({"invoice_prefix": "ab"}, "invoice_prefix", "parameter_invalid"),
        ({"next_invoice_sequence": "0"}, "next_invoice_sequence", "parameter_invalid"),
        ({"address[planet]": "Mars"}, "address[planet]", "parameter_unknown"),
        ({"metadata[" + "k" * 41 + "]": "v"}, "metadata[" + "k" * 41 + "]", "parameter_invalid"),
        ({"shoe_size": "44"}, "shoe_size", "parameter_unknown"),
        ({"test_clock": "clock_missing"}, "test_clock", "resource_missing"),
        ({"payment_method": "pm_missing"}, "payment_method", "resource_missing"),
        (
            {"invoice_settings[default_payment_method]": "pm_card_visa"},
            "invoice_settings[default_payment_method]",
            "resource_missing",
        ),
        (
            {
                "payment_method": "pm_card_visa",
                "invoice_settings[default_payment_method]": "pm_card_mastercard",
            },
            "invoice_settings[default_payment_method]",
            "resource_missing",
        ),
    ],
)
def test_invalid_create_is_400_and_writes_nothing(
    client: TestClient, runtime: Runtime, data: dict[str, Any], param: str, code: str
) -> None:
    error = error_of(client.post(CUSTOMERS, data=data), 400)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert count(runtime, Customer) == 0
    assert count(runtime, PaymentMethod) == 0
    assert count(runtime, Event) == 0


def test_payment_method_token_creates_a_new_method_and_attaches_it(
    client: TestClient, runtime: Runtime
) -> None:
    customer = create(client, payment_method="pm_card_visa")
    # Attached, but not the default unless asked for (as in Stripe).
    assert customer["invoice_settings"]["default_payment_method"] is None
    listed = client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods").json()["data"]
    assert len(listed) == 1
    assert listed[0]["id"].startswith("pm_") and listed[0]["id"] != "pm_card_visa"
    assert listed[0]["card"]["last4"] == "4242"
    assert [e.type for e in events(runtime)] == ["customer.created", "payment_method.attached"]


def test_payment_method_becomes_default_when_named(client: TestClient, runtime: Runtime) -> None:
    customer = create(
        client,
        payment_method="pm_card_mastercard",
        **{"invoice_settings[default_payment_method]": "pm_card_mastercard"},
    )
    default = customer["invoice_settings"]["default_payment_method"]
    assert default.startswith("pm_") and default != "pm_card_mastercard"
    pm = client.get(f"/v1/payment_methods/{default}").json()
    assert (pm["customer"], pm["card"]["brand"]) == (customer["id"], "mastercard")
    [created] = events(runtime, "customer.created")
    assert created.data["object"]["invoice_settings"]["default_payment_method"] == default


def test_existing_payment_method_by_id(client: TestClient) -> None:
    pm = client.post("/v1/payment_methods", data={"type": "card", "card[token]": "tok_amex"}).json()
    customer = create(
        client, payment_method=pm["id"], **{"invoice_settings[default_payment_method]": pm["id"]}
    )
    assert customer["invoice_settings"]["default_payment_method"] == pm["id"]
    assert client.get(f"/v1/payment_methods/{pm['id']}").json()["customer"] == customer["id"]
    # The same method cannot also be attached to a second customer.
    error = error_of(client.post(CUSTOMERS, data={"payment_method": pm["id"]}), 400)
    assert (error["param"], error["code"]) == ("payment_method", "payment_method_unexpected_state")


def test_update_applies_given_fields_and_unsets_blanks(client: TestClient, runtime: Runtime) -> None:
    customer = create(client, email="old@example.com", name="Old", phone="+331", **{"metadata[a]": "1"})
    response = client.post(
        f"{CUSTOMERS}/{customer['id']}",
        data={"email": "new@example.com", "phone": "", "metadata[b]": "2", "address[city]": "Berlin"},
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["email"] == "new@example.com"
    assert updated["name"] == "Old"
    assert updated["phone"] is None
    assert updated["metadata"] == {"a": "1", "b": "2"}
    assert updated["address"]["city"] == "Berlin"
    [event] = events(runtime, "customer.updated")
    assert event.data["object"] == updated
    assert event.data["previous_attributes"]["email"] == "old@example.com"
    assert event.data["previous_attributes"]["phone"] == "+331"
    # Nothing changed: no event.
    client.post(f"{CUSTOMERS}/{customer['id']}", data={"email": "new@example.com"})
    assert len(events(runtime, "customer.updated")) == 1


def test_update_default_payment_method(client: TestClient, runtime: Runtime) -> None:
    customer = create(client, payment_method="pm_card_visa")
    other = create(client, payment_method="pm_card_visa")
    [pm] = client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods").json()["data"]
    [others_pm] = client.get(f"{CUSTOMERS}/{other['id']}/payment_methods").json()["data"]
    url = f"{CUSTOMERS}/{customer['id']}"

    refused = client.post(url, data={"invoice_settings[default_payment_method]": others_pm["id"]})
    error = error_of(refused, 400)
    assert (error["param"], error["code"]) == ("invoice_settings[default_payment_method]", "resource_missing")
    assert client.get(url).json()["invoice_settings"]["default_payment_method"] is None

    set_ = client.post(url, data={"invoice_settings[default_payment_method]": pm["id"]}).json()
    assert set_["invoice_settings"]["default_payment_method"] == pm["id"]
    event = events(runtime, "customer.updated")[-1]
    assert event.data["previous_attributes"] == {"invoice_settings": {"default_payment_method": None}}

    cleared = client.post(url, data={"invoice_settings[default_payment_method]": ""}).json()
    assert cleared["invoice_settings"]["default_payment_method"] is None


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"email": "nope"}, "email"),
        ({"preferred_locales[]": "zz"}, "preferred_locales"),
        ({"test_clock": "clock_x"}, "test_clock"),  # only settable at creation, as in Stripe
        ({"payment_method": "pm_card_visa"}, "payment_method"),
        ({"balance": "1.5"}, "balance"),
    ],
)
def test_invalid_update_is_400_and_changes_nothing(
    client: TestClient, runtime: Runtime, data: dict[str, Any], param: str
) -> None:
    customer = create(client, email="keep@example.com")
    error = error_of(client.post(f"{CUSTOMERS}/{customer['id']}", data=data), 400)
    assert error["param"] == param
    assert client.get(f"{CUSTOMERS}/{customer['id']}").json() == customer
    assert [e.type for e in events(runtime)] == ["customer.created"]


def test_unknown_customer_is_404(client: TestClient) -> None:
    for response in (
        client.get(f"{CUSTOMERS}/cus_missing"),
        client.post(f"{CUSTOMERS}/cus_missing", data={"name": "x"}),
        client.delete(f"{CUSTOMERS}/cus_missing"),
    ):
        error = error_of(response, 404)
        assert (error["code"], error["param"]) == ("resource_missing", "id")


def test_delete_keeps_a_stub(client: TestClient, runtime: Runtime) -> None:
    customer = create(client, email="gone@example.com")
    deleted = client.delete(f"{CUSTOMERS}/{customer['id']}")
    assert deleted.status_code == 200
    stub = {"id": customer["id"], "object": "customer", "deleted": True}
    assert deleted.json() == stub
    assert client.get(f"{CUSTOMERS}/{customer['id']}").json() == stub
    assert client.get(CUSTOMERS, params={"email": "gone@example.com"}).json()["data"] == []
    assert error_of(client.post(f"{CUSTOMERS}/{customer['id']}", data={"name": "x"}), 404)["code"] == (
        "resource_missing"
    )
    assert error_of(client.delete(f"{CUSTOMERS}/{customer['id']}"), 404)["code"] == "resource_missing"
    [event] = events(runtime, "customer.deleted")
    assert event.data["object"]["email"] == "gone@example.com"
    # A deleted customer cannot be given payment methods.
    error = error_of(
        client.post("/v1/payment_methods/pm_card_visa/attach", data={"customer": customer["id"]}), 400
    )
    assert (error["param"], error["code"]) == ("customer", "resource_missing")


def test_list_filters(client: TestClient) -> None:
    first = create(client, email="a@example.com")
    second = create(client, email="b@example.com")
    third = create(client, email="a@example.com")
    everyone = client.get(CUSTOMERS).json()
    assert everyone["url"] == CUSTOMERS
    assert [c["id"] for c in everyone["data"]] == [third["id"], second["id"], first["id"]]
    by_email = client.get(CUSTOMERS, params={"email": "a@example.com"}).json()["data"]
    assert [c["id"] for c in by_email] == [third["id"], first["id"]]
    assert client.get(CUSTOMERS, params={"email": "A@example.com"}).json()["data"] == []  # case-sensitive
    page = client.get(CUSTOMERS, params={"limit": 1, "starting_after": third["id"]}).json()
    assert [c["id"] for c in page["data"]] == [second["id"]]
    assert page["has_more"] is True
    created = first["created"]
    assert len(client.get(CUSTOMERS, params={"created[gte]": created}).json()["data"]) == 3
    assert client.get(CUSTOMERS, params={"created[lt]": created}).json()["data"] == []
    error = error_of(client.get(CUSTOMERS, params={"created[gte]": "yesterday"}), 400)
    assert error["param"].startswith("created")


def test_test_clock_customers(client: TestClient, runtime: Runtime) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    on_clock = create(client, test_clock=clock["id"], payment_method="pm_card_visa")
    plain = create(client)
    assert on_clock["test_clock"] == clock["id"]
    assert on_clock["created"] == 1700000000
    [created] = events(runtime, "customer.created")[:1]
    assert created.created == 1700000000
    [attached] = events(runtime, "payment_method.attached")
    assert attached.created == 1700000000
    # Without `test_clock`, lists leave clock customers out (as Stripe does).
    assert [c["id"] for c in client.get(CUSTOMERS).json()["data"]] == [plain["id"]]
    listed = client.get(CUSTOMERS, params={"test_clock": clock["id"]}).json()["data"]
    assert [c["id"] for c in listed] == [on_clock["id"]]
    error = error_of(client.get(CUSTOMERS, params={"test_clock": "clock_missing"}), 400)
    assert (error["param"], error["code"]) == ("test_clock", "resource_missing")


def test_deleting_a_test_clock_deletes_its_customers(client: TestClient, runtime: Runtime) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    doomed = create(client, test_clock=clock["id"], payment_method="pm_card_visa")
    survivor = create(client, payment_method="pm_card_visa")
    assert client.delete(f"{CLOCKS}/{clock['id']}").status_code == 200
    assert error_of(client.get(f"{CUSTOMERS}/{doomed['id']}"), 404)["code"] == "resource_missing"
    assert client.get(f"{CUSTOMERS}/{survivor['id']}").status_code == 200
    assert count(runtime, Customer) == 1
    assert count(runtime, PaymentMethod) == 1
    [deleted] = events(runtime, "customer.deleted")
    assert (deleted.data["object"]["id"], deleted.created) == (doomed["id"], 1700000000)


def test_expand(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    customer = create(
        client,
        test_clock=clock["id"],
        payment_method="pm_card_visa",
        **{"invoice_settings[default_payment_method]": "pm_card_visa"},
    )
    url = f"{CUSTOMERS}/{customer['id']}"
    expanded = client.get(
        url, params={"expand[]": ["test_clock", "invoice_settings.default_payment_method"]}
    ).json()
    assert expanded["test_clock"]["object"] == "test_helpers.test_clock"
    default = expanded["invoice_settings"]["default_payment_method"]
    assert (default["object"], default["customer"]) == ("payment_method", customer["id"])
    on_list = client.get(
        CUSTOMERS,
        params={"test_clock": clock["id"], "expand[]": "data.invoice_settings.default_payment_method"},
    ).json()
    assert on_list["data"][0]["invoice_settings"]["default_payment_method"]["card"]["last4"] == "4242"
    for field in ("email", "invoice_settings.footer", "invoice_settings.default_payment_method.nope"):
        error = error_of(client.get(url, params={"expand[]": field}), 400)
        assert error["param"] == "expand"


def test_idempotent_create_replays(client: TestClient, runtime: Runtime) -> None:
    headers = {"Idempotency-Key": "signup-42"}
    first = client.post(
        CUSTOMERS, data={"email": "x@example.com", "payment_method": "pm_card_visa"}, headers=headers
    )
    again = client.post(
        CUSTOMERS, data={"email": "x@example.com", "payment_method": "pm_card_visa"}, headers=headers
    )
    assert first.content == again.content
    assert count(runtime, Customer) == 1
    assert count(runtime, PaymentMethod) == 1
