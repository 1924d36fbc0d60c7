"""Payment methods over HTTP: creation through the test processor, attach/detach, update, lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.events.models import Event
from tenure.models import Base
from tenure.payments import service
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import ChargeOutcome, get_processor
from tenure.runtime import Runtime
from tests.spec import STRIPE_FIXTURES

PMS = "/v1/payment_methods"
CUSTOMERS = "/v1/customers"
FIXTURES = STRIPE_FIXTURES
NEXT_YEAR = str(datetime.now(UTC).year + 1)
VISA = {
    "type": "card",
    "card[number]": "4242424242424242",
    "card[exp_month]": "12",
    "card[exp_year]": NEXT_YEAR,
}


def pm_count(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(PaymentMethod)) or 0)


def events(runtime: Runtime, *types: str) -> list[Event]:
    with runtime.sessionmaker() as session:
        return list(session.scalars(select(Event).where(Event.type.in_(types)).order_by(Event.pk)))


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def new_customer(client: TestClient, **data: Any) -> dict[str, Any]:
    return ok(client.post(CUSTOMERS, data=data))


def test_card_shape_matches_stripe(client: TestClient, runtime: Runtime) -> None:
    pm = ok(
        client.post(
            PMS,
            data={
                **VISA,
                "card[cvc]": "314",
                "billing_details[name]": "Jenny Rosen",
                "billing_details[email]": "jenny@example.com",
                "billing_details[address][country]": "US",
                "metadata[order_id]": "123456789",
            },
        )
    )
    fixture = json.loads((FIXTURES / "payment_method.json").read_text())
    assert set(pm) == set(fixture)
    assert set(pm["card"]) == set(fixture["card"])
    assert set(pm["billing_details"]) == set(fixture["billing_details"])
    assert set(pm["billing_details"]["address"]) == set(fixture["billing_details"]["address"])
    assert pm["id"].startswith("pm_")
    assert (pm["type"], pm["customer"], pm["metadata"]) == ("card", None, {"order_id": "123456789"})
    card = pm["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa",
        "4242",
        12,
        int(NEXT_YEAR),
    )
    assert (card["country"], card["funding"], card["networks"]["available"]) == ("US", "credit", ["visa"])
    assert pm["billing_details"]["name"] == "Jenny Rosen"
    assert pm["billing_details"]["address"]["country"] == "US"
    assert "behaviour" not in json.dumps(pm)
    assert ok(client.get(f"{PMS}/{pm['id']}")) == pm
    # Creating an unattached payment method is not an event in Stripe.
    assert events(runtime, "payment_method.attached", "payment_method.updated") == []


def test_same_card_same_fingerprint(client: TestClient) -> None:
    first = ok(client.post(PMS, data=VISA))
    second = ok(client.post(PMS, data={**VISA, "card[exp_month]": "1"}))
    from_token = ok(client.post(PMS, data={"type": "card", "card[token]": "tok_visa"}))
    other = ok(client.post(PMS, data={**VISA, "card[number]": "5555555555554444"}))
    assert first["card"]["fingerprint"] == second["card"]["fingerprint"] == from_token["card"]["fingerprint"]
    assert other["card"]["fingerprint"] != first["card"]["fingerprint"]
    assert other["card"]["brand"] == "mastercard"


def test_sepa_debit_and_paypal(client: TestClient) -> None:
    sepa = ok(
        client.post(PMS, data={"type": "sepa_debit", "sepa_debit[iban]": "DE89 3704 0044 0532 0130 00"})
    )
    assert sepa["sepa_debit"] == {
        "bank_code": "37040044",
        "branch_code": None,
        "country": "DE",
        "fingerprint": sepa["sepa_debit"]["fingerprint"],
        "generated_from": {"charge": None, "setup_attempt": None},
        "last4": "3000",
    }
    assert "card" not in sepa
    paypal = ok(client.post(PMS, data={"type": "paypal", "paypal[payer_email]": "jenny@example.com"}))
    assert paypal["paypal"] == {"country": None, "payer_email": "jenny@example.com", "payer_id": None}


@pytest.mark.parametrize(
    ("data", "status", "error_type", "code", "param"),
    [
        ({**VISA, "card[number]": "4242424242424241"}, 402, "card_error", "incorrect_number", "card[number]"),
        ({**VISA, "card[number]": "4242"}, 402, "card_error", "invalid_number", "card[number]"),
        ({**VISA, "card[exp_year]": "2001"}, 402, "card_error", "invalid_expiry_year", "card[exp_year]"),
        ({**VISA, "card[exp_month]": "13"}, 402, "card_error", "invalid_expiry_month", "card[exp_month]"),
        ({**VISA, "card[cvc]": "1"}, 402, "card_error", "invalid_cvc", "card[cvc]"),
        ({**VISA, "card[number]": "4000000000000002"}, 402, "card_error", "card_declined", None),
        ({"type": "card"}, 400, "invalid_request_error", "parameter_missing", "card"),
        ({"card[token]": "tok_visa"}, 400, "invalid_request_error", "parameter_missing", "type"),
        ({"type": "ideal"}, 400, "invalid_request_error", "parameter_invalid", "type"),
        (
            {**VISA, "card[exp_month]": "soon"},
            400,
            "invalid_request_error",
            "parameter_invalid",
            "card[exp_month]",
        ),
        ({**VISA, "card[colour]": "gold"}, 400, "invalid_request_error", "parameter_unknown", "card[colour]"),
        (
            {"type": "card", "card[token]": "tok_nope"},
            400,
            "invalid_request_error",
            "resource_missing",
            "card[token]",
        ),
        (
            {**VISA, "sepa_debit[iban]": "DE89370400440532013000"},
            400,
            "invalid_request_error",
            "parameter_invalid",
            "sepa_debit",
        ),
        ({"type": "sepa_debit"}, 400, "invalid_request_error", "parameter_missing", "sepa_debit"),
        (
            {"type": "sepa_debit", "sepa_debit[iban]": "DE89370400440532013001"},
            400,
            "invalid_request_error",
            "invalid_bank_account_iban",
            "sepa_debit[iban]",
        ),
        (
            {**VISA, "billing_details[email]": "nope"},
            400,
            "invalid_request_error",
            "parameter_invalid",
            "billing_details[email]",
        ),
        (
            {"type": "paypal", "paypal[payer_email]": "nope"},
            400,
            "invalid_request_error",
            "parameter_invalid",
            "paypal[payer_email]",
        ),
    ],
)
def test_invalid_input_is_refused_and_writes_nothing(
    client: TestClient,
    runtime: Runtime,
    data: dict[str, str],
    status: int,
    error_type: str,
    code: str,
    param: str | None,
) -> None:
    error = error_of(client.post(PMS, data=data), status)
    assert (error["type"], error["code"], error.get("param")) == (error_type, code, param)
    assert "4242424242424241" not in error["message"]
    assert pm_count(runtime) == 0


def test_declined_card_carries_decline_code(client: TestClient) -> None:
    error = error_of(client.post(PMS, data={**VISA, "card[number]": "4000000000000002"}), 402)
    assert error["decline_code"] == "generic_decline"


def _all_rows_as_text(session: Session) -> str:
    parts = []
    for table in Base.metadata.sorted_tables:
        parts.extend(repr(tuple(row)) for row in session.execute(select(table)))
    return "\n".join(parts)


def test_raw_numbers_never_reach_the_database(client: TestClient, runtime: Runtime, settings: Any) -> None:
    card_number, iban = "5555555555554444", "DE89370400440532013000"
    customer = new_customer(client)
    card = ok(
        client.post(
            PMS,
            data={**VISA, "card[number]": card_number, "card[cvc]": "987"},
            headers={"Idempotency-Key": "card-1"},
        )
    )
    sepa = ok(client.post(PMS, data={"type": "sepa_debit", "sepa_debit[iban]": iban}))
    ok(client.post(f"{PMS}/{card['id']}/attach", data={"customer": customer["id"]}))
    ok(client.post(f"{PMS}/{sepa['id']}/attach", data={"customer": customer["id"]}))
    secrets = (card_number, iban, iban[4:], "4444-5555", "5555 5555")
    with runtime.sessionmaker() as session:
        rows = _all_rows_as_text(session)
        stored = session.scalar(select(PaymentMethod).where(PaymentMethod.id == card["id"]))
        assert stored is not None and (stored.card_last4, stored.fingerprint) == (
            "4444",
            card["card"]["fingerprint"],
        )
    assert card["id"] in rows and "4444" in rows  # the check reads the real rows
    for secret in secrets:
        assert secret not in rows
    if runtime.database_kind == "sqlite":
        # The database file and its write-ahead log: every byte SQLite has written.
        files = list(Path(settings.data_dir).glob("tenure.sqlite3*"))
        raw = b"".join(path.read_bytes() for path in files)
        assert card["id"].encode() in raw
        for secret in secrets:
            assert secret.encode() not in raw


def test_attach_and_detach(client: TestClient, runtime: Runtime) -> None:
    customer = new_customer(client)
    pm = ok(client.post(PMS, data=VISA))
    attached = ok(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": customer["id"]}))
    assert attached["customer"] == customer["id"]
    # Attaching again to the same customer is harmless, as in Stripe.
    assert (
        ok(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": customer["id"]}))["customer"]
        == (customer["id"])
    )
    [event] = events(runtime, "payment_method.attached")
    assert event.data["object"] == attached

    detached = ok(client.post(f"{PMS}/{pm['id']}/detach"))
    assert detached["customer"] is None
    [event] = events(runtime, "payment_method.detached")
    assert event.data["object"] == detached
    assert event.data["previous_attributes"] == {"customer": customer["id"]}
    error = error_of(client.post(f"{PMS}/{pm['id']}/detach"), 400)
    assert error["code"] == "payment_method_unexpected_state"
    # Detaching is final, as in Stripe.
    again = error_of(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": customer["id"]}), 400)
    assert (again["code"], again["param"]) == ("payment_method_unexpected_state", "customer")
    reuse = error_of(client.post(CUSTOMERS, data={"payment_method": pm["id"]}), 400)
    assert reuse["param"] == "payment_method"


def test_attach_a_token_creates_a_new_method(client: TestClient, runtime: Runtime) -> None:
    customer = new_customer(client)
    first = ok(client.post(f"{PMS}/pm_card_chargeDeclined/attach", data={"customer": customer["id"]}))
    second = ok(client.post(f"{PMS}/pm_card_chargeDeclined/attach", data={"customer": customer["id"]}))
    assert (
        first["id"] != second["id"]
        and first["id"].startswith("pm_")
        and first["id"] != "pm_card_chargeDeclined"
    )
    assert (first["customer"], first["card"]["last4"]) == (customer["id"], "0002")
    assert pm_count(runtime) == 2


def test_attach_errors(client: TestClient, runtime: Runtime) -> None:
    alice, bob = new_customer(client), new_customer(client)
    pm = ok(client.post(PMS, data=VISA))
    ok(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": alice["id"]}))

    taken = error_of(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": bob["id"]}), 400)
    assert (taken["code"], taken["param"]) == ("payment_method_unexpected_state", "customer")
    assert ok(client.get(f"{PMS}/{pm['id']}"))["customer"] == alice["id"]

    no_customer = error_of(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": "cus_missing"}), 400)
    assert (no_customer["code"], no_customer["param"]) == ("resource_missing", "customer")
    missing_param = error_of(client.post(f"{PMS}/{pm['id']}/attach"), 400)
    assert (missing_param["code"], missing_param["param"]) == ("parameter_missing", "customer")
    no_pm = error_of(client.post(f"{PMS}/pm_missing/attach", data={"customer": bob["id"]}), 404)
    assert no_pm["code"] == "resource_missing"
    # A token attached to a missing customer leaves no orphan payment method behind.
    error_of(client.post(f"{PMS}/pm_card_visa/attach", data={"customer": "cus_missing"}), 400)
    assert pm_count(runtime) == 1
    assert len(events(runtime, "payment_method.attached")) == 1


def test_detaching_the_default_clears_it(client: TestClient, runtime: Runtime) -> None:
    customer = new_customer(
        client, payment_method="pm_card_visa", **{"invoice_settings[default_payment_method]": "pm_card_visa"}
    )
    default = customer["invoice_settings"]["default_payment_method"]
    ok(client.post(f"{PMS}/{default}/detach"))
    assert (
        ok(client.get(f"{CUSTOMERS}/{customer['id']}"))["invoice_settings"]["default_payment_method"] is None
    )
    [updated] = events(runtime, "customer.updated")
    assert updated.data["previous_attributes"] == {"invoice_settings": {"default_payment_method": default}}


@pytest.fixture
def refuse_sepa_detach() -> Iterator[None]:
    """A detach rule registered the way another feature would (e.g. subscriptions' past_due rule)."""

    def guard(session: Session, pm: PaymentMethod) -> None:
        if pm.type == "sepa_debit":
            raise InvalidRequest("This payment method cannot be detached now.", param="payment_method")

    service.DETACH_GUARDS.append(guard)
    yield
    service.DETACH_GUARDS.remove(guard)


def test_detach_guards_can_refuse(client: TestClient, runtime: Runtime, refuse_sepa_detach: None) -> None:
    customer = new_customer(client)
    sepa = ok(client.post(PMS, data={"type": "sepa_debit", "sepa_debit[iban]": "DE89370400440532013000"}))
    card = ok(client.post(PMS, data=VISA))
    for pm in (sepa, card):
        ok(client.post(f"{PMS}/{pm['id']}/attach", data={"customer": customer["id"]}))
    error = error_of(client.post(f"{PMS}/{sepa['id']}/detach"), 400)
    assert error["message"] == "This payment method cannot be detached now."
    assert ok(client.get(f"{PMS}/{sepa['id']}"))["customer"] == customer["id"]
    assert ok(client.post(f"{PMS}/{card['id']}/detach"))["customer"] is None
    assert len(events(runtime, "payment_method.detached")) == 1


def test_update(client: TestClient, runtime: Runtime) -> None:
    pm = ok(client.post(PMS, data={**VISA, "billing_details[name]": "Jenny", "metadata[a]": "1"}))
    url = f"{PMS}/{pm['id']}"
    later = str(int(NEXT_YEAR) + 2)
    updated = ok(
        client.post(
            url,
            data={
                "card[exp_month]": "3",
                "card[exp_year]": later,
                "billing_details[email]": "jenny@example.com",
                "billing_details[address][city]": "Paris",
                "metadata[b]": "2",
            },
        )
    )
    assert (updated["card"]["exp_month"], updated["card"]["exp_year"]) == (3, int(later))
    assert updated["billing_details"]["name"] == "Jenny"
    assert updated["billing_details"]["email"] == "jenny@example.com"
    assert updated["billing_details"]["address"]["city"] == "Paris"
    assert updated["metadata"] == {"a": "1", "b": "2"}
    [event] = events(runtime, "payment_method.updated")
    assert event.data["object"] == updated
    assert event.data["previous_attributes"]["card"] == {"exp_month": 12, "exp_year": int(NEXT_YEAR)}

    expired = error_of(client.post(url, data={"card[exp_year]": "2001"}), 402)
    assert (expired["code"], expired["param"]) == ("invalid_expiry_year", "card[exp_year]")
    unknown = error_of(client.post(url, data={"card[number]": "4242424242424242"}), 400)
    assert (unknown["code"], unknown["param"]) == ("parameter_unknown", "card[number]")
    assert ok(client.get(url)) == updated

    sepa = ok(client.post(PMS, data={"type": "sepa_debit", "sepa_debit[iban]": "DE89370400440532013000"}))
    error = error_of(client.post(f"{PMS}/{sepa['id']}", data={"card[exp_month]": "1"}), 400)
    assert error["param"] == "card"
    assert (
        error_of(client.post(f"{PMS}/pm_missing", data={"metadata[a]": "b"}), 404)["code"]
        == "resource_missing"
    )


def test_lists(client: TestClient) -> None:
    customer, other = new_customer(client), new_customer(client)
    card = ok(client.post(f"{PMS}/pm_card_visa/attach", data={"customer": customer["id"]}))
    sepa = ok(client.post(PMS, data={"type": "sepa_debit", "sepa_debit[iban]": "DE89370400440532013000"}))
    ok(client.post(f"{PMS}/{sepa['id']}/attach", data={"customer": customer["id"]}))
    others = ok(client.post(f"{PMS}/pm_card_amex/attach", data={"customer": other["id"]}))

    by_customer = ok(client.get(PMS, params={"customer": customer["id"]}))
    assert [pm["id"] for pm in by_customer["data"]] == [sepa["id"], card["id"]]
    assert by_customer["url"] == PMS
    cards = ok(client.get(PMS, params={"customer": customer["id"], "type": "card"}))["data"]
    assert [pm["id"] for pm in cards] == [card["id"]]
    nested = ok(client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods", params={"type": "sepa_debit"}))
    assert [pm["id"] for pm in nested["data"]] == [sepa["id"]]
    assert nested["url"] == f"{CUSTOMERS}/{customer['id']}/payment_methods"
    page = ok(client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods", params={"limit": 1}))
    assert page["has_more"] is True

    one = ok(client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods/{card['id']}"))
    assert one["id"] == card["id"]
    assert error_of(client.get(f"{CUSTOMERS}/{customer['id']}/payment_methods/{others['id']}"), 404)
    assert error_of(client.get(f"{CUSTOMERS}/cus_missing/payment_methods"), 404)["code"] == "resource_missing"
    error = error_of(client.get(PMS, params={"customer": "cus_missing"}), 400)
    assert (error["code"], error["param"]) == ("resource_missing", "customer")
    assert error_of(client.get(PMS, params={"type": "ideal"}), 400)["param"] == "type"
    expanded = ok(client.get(f"{PMS}/{card['id']}", params={"expand[]": "customer"}))
    assert expanded["customer"]["id"] == customer["id"]


def test_stored_behaviour_drives_charges(client: TestClient, runtime: Runtime) -> None:
    customer = new_customer(client)
    outcomes = {}
    for reference in ("pm_card_visa", "pm_card_chargeDeclined", "pm_card_chargeCustomerFail"):
        pm = ok(client.post(f"{PMS}/{reference}/attach", data={"customer": customer["id"]}))
        with runtime.sessionmaker() as session:
            stored = service.get_payment_method(session, pm["id"])
            result = get_processor(runtime).charge(
                stored, amount=1000, currency="usd", idempotency_key=pm["id"]
            )
        outcomes[reference] = (result.outcome, result.decline_code)
    assert outcomes == {
        "pm_card_visa": (ChargeOutcome.SUCCEEDED, None),
        "pm_card_chargeDeclined": (ChargeOutcome.DECLINED, "generic_decline"),
        "pm_card_chargeCustomerFail": (ChargeOutcome.FAILED, None),
    }
