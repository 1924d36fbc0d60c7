from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.invoices.models import Invoice
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription
from tests.subscriptions.conftest import Catalog, ok


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessionmaker() as session:
        subs = session.scalar(select(func.count()).select_from(Subscription)) or 0
        invoices = session.scalar(select(func.count()).select_from(Invoice)) or 0
        return int(subs), int(invoices)


def test_create_charges_the_first_invoice(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post(
            "/v1/subscriptions",
            data={
                "customer": customer,
                "items[0][price]": catalog.monthly,
                "items[0][quantity]": "2",
                "expand[]": "latest_invoice",
            },
        )
    )
    assert sub["status"] == "active"
    assert sub["object"] == "subscription"
    assert sub["items"]["data"][0]["quantity"] == 2
    assert sub["items"]["data"][0]["price"]["id"] == catalog.monthly
    invoice = sub["latest_invoice"]
    assert (invoice["total"], invoice["amount_paid"], invoice["status"]) == (4000, 4000, "paid")
    assert invoice["lines"]["data"][0]["amount"] == 4000
    assert invoice["number"].endswith("-0001")


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"items[0][price]": "price_unknown"}, "items[0][price]"),
        ({"items[0][price]": "{monthly}", "items[1][price]": "{usd}"}, "items[1][price]"),
        ({"items[0][price]": "{monthly}", "items[0][quantity]": "-1"}, "items[0][quantity]"),
        ({"items[0][price]": "{monthly}", "coupon": "nope"}, "coupon"),
        ({"items[0][price]": "{monthly}", "trial_end": "1"}, "trial_end"),
        ({"items[0][price]": "{monthly}", "default_payment_method": "pm_missing"}, "default_payment_method"),
        ({}, "items"),
        ({"items[0][price]": "{monthly}", "payment_behavior": "whatever"}, "payment_behavior"),
    ],
)
def test_bad_input_changes_nothing(
    client: TestClient, catalog: Catalog, runtime: Runtime, data: dict[str, str], param: str
) -> None:
    customer = catalog.customer()
    before = counts(runtime)
    body = {k: v.format(monthly=catalog.monthly, usd=catalog.usd) for k, v in data.items()}
    response = client.post("/v1/subscriptions", data={"customer": customer, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert counts(runtime) == before


def test_expired_coupon_is_refused(client: TestClient, catalog: Catalog, runtime: Runtime) -> None:
    coupon = ok(
        client.post(
            "/v1/coupons",
            data={"percent_off": 10, "duration": "once", "redeem_by": runtime.clock.now() + 3600},
        )
    )
    with runtime.sessionmaker() as session:
        from tenure.coupons.models import Coupon

        stored = session.scalar(select(Coupon).where(Coupon.id == coupon["id"]))
        assert stored is not None
        stored.redeem_by = runtime.clock.now() - 1
        session.commit()
    customer = catalog.customer()
    response = client.post(
        "/v1/subscriptions",
        data={"customer": customer, "items[0][price]": catalog.monthly, "coupon": coupon["id"]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "coupon"
    assert counts(runtime) == (0, 0)


def test_declined_card_with_error_if_incomplete_creates_nothing(
    client: TestClient, catalog: Catalog, runtime: Runtime
) -> None:
    customer = catalog.customer("pm_card_chargeDeclined")
    response = client.post(
        "/v1/subscriptions",
        data={
            "customer": customer,
            "items[0][price]": catalog.monthly,
            "payment_behavior": "error_if_incomplete",
        },
    )
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "card_error"
    assert counts(runtime) == (0, 0)


def test_declined_card_leaves_an_incomplete_subscription(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer("pm_card_chargeDeclined")
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    assert sub["status"] == "incomplete"
    invoice = ok(client.get(f"/v1/invoices/{sub['latest_invoice']}"))
    assert (invoice["status"], invoice["attempt_count"]) == ("open", 1)
    retry = client.post(f"/v1/invoices/{invoice['id']}/pay")
    assert retry.status_code == 402
    assert ok(client.get(f"/v1/invoices/{invoice['id']}"))["attempt_count"] == 2


def events_of(client: TestClient, subscription_id: str, event_type: str) -> list[dict[str, Any]]:
    events = ok(client.get("/v1/events", params={"type": event_type, "limit": 100}))["data"]
    return [e for e in events if e["data"]["object"]["id"] == subscription_id]


def test_cancellation_and_reason_are_one_updated_event(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    updated = ok(
        client.post(
            f"/v1/subscriptions/{sub['id']}",
            data={
                "cancel_at_period_end": "true",
                "cancellation_details[feedback]": "too_expensive",
                "cancellation_details[comment]": "Budget cut",
            },
        )
    )
    assert updated["cancel_at_period_end"] is True
    assert updated["canceled_at"] is not None
    events = events_of(client, sub["id"], "customer.subscription.updated")
    assert len(events) == 1
    event = events[0]
    assert event["data"]["object"]["cancellation_details"] == {
        "comment": "Budget cut",
        "feedback": "too_expensive",
        "reason": "cancellation_requested",
    }
    assert event["data"]["previous_attributes"]["cancellation_details"] == {
        "comment": None,
        "feedback": None,
        "reason": None,
    }
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False

    kept = ok(client.post(f"/v1/subscriptions/{sub['id']}", data={"cancel_at_period_end": "false"}))
    assert kept["cancellation_details"] == {"comment": None, "feedback": None, "reason": None}
    assert kept["canceled_at"] is None
    assert len(events_of(client, sub["id"], "customer.subscription.updated")) == 2


def test_immediate_cancel_records_reason_and_stops(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    canceled = ok(
        client.request(
            "DELETE",
            f"/v1/subscriptions/{sub['id']}",
            params={
                "cancellation_details[feedback]": "unused",
                "cancellation_details[comment]": "Not using it",
            },
        )
    )
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_details"]["feedback"] == "unused"
    updated = events_of(client, sub["id"], "customer.subscription.updated")
    assert len(updated) == 1
    assert updated[0]["data"]["previous_attributes"]["status"] == "active"
    assert len(events_of(client, sub["id"], "customer.subscription.deleted")) == 1
    again = client.request("DELETE", f"/v1/subscriptions/{sub['id']}")
    assert again.status_code == 400
    listed = ok(client.get("/v1/subscriptions", params={"customer": customer}))["data"]
    assert listed == []
    assert [s["id"] for s in ok(client.get("/v1/subscriptions", params={"status": "canceled"}))["data"]] == [
        sub["id"]
    ]


def test_price_change_prorates_both_ways(client: TestClient, catalog: Catalog) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    item = sub["items"]["data"][0]
    switched = ok(
        client.post(
            f"/v1/subscriptions/{sub['id']}",
            data={
                "items[0][id]": item["id"],
                "items[0][price]": catalog.cheaper,
                "proration_behavior": "always_invoice",
                "proration_date": str(item["current_period_start"]),
            },
        )
    )
    assert switched["items"]["data"][0]["price"]["id"] == catalog.cheaper
    invoice = ok(client.get(f"/v1/invoices/{switched['latest_invoice']}"))
    lines = sorted(
        (line["amount"], line["pricing"]["price_details"]["price"]) for line in invoice["lines"]["data"]
    )
    assert lines == [(-2000, catalog.monthly), (1000, catalog.cheaper)]
    assert invoice["total"] == -1000
    assert ok(client.get(f"/v1/customers/{customer}"))["balance"] == -1000


def test_upcoming_invoice_preview_saves_nothing(
    client: TestClient, catalog: Catalog, runtime: Runtime
) -> None:
    customer = catalog.customer()
    sub = ok(
        client.post("/v1/subscriptions", data={"customer": customer, "items[0][price]": catalog.monthly})
    )
    before = counts(runtime)
    preview = ok(client.post("/v1/invoices/create_preview", data={"subscription": sub["id"]}))
    assert preview["amount_due"] == 2000
    assert preview["period_start"] == sub["items"]["data"][0]["current_period_end"]
    assert counts(runtime) == before
