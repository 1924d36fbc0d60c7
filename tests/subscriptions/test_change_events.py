"""`customer.subscription.updated` serializes the subscription once, after the change, and puts the
changed fields back for `previous_attributes`: the event must say exactly what a full serialization
before and after would, whatever the change touched (columns, JSON fields, items, period, discounts)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tenure.events.service import previous_attributes
from tests.subscriptions.conftest import Catalog, ok

SUBSCRIPTIONS = "/v1/subscriptions"


def _latest_update(client: TestClient, subscription_id: str) -> dict[str, Any]:
    events = ok(client.get("/v1/events", params={"type": "customer.subscription.updated", "limit": 5}))
    found = [e for e in events["data"] if e["data"]["object"]["id"] == subscription_id]
    assert found, events
    return found[0]


CHANGES: list[tuple[str, dict[str, str]]] = [
    (
        "scheduled cancellation with its reason",
        {
            "cancel_at_period_end": "true",
            "cancellation_details[feedback]": "too_expensive",
            "cancellation_details[comment]": "Pricey",
        },
    ),
    ("the reason alone", {"cancellation_details[comment]": "Still pricey"}),
    ("metadata added and changed", {"metadata[team]": "blue", "metadata[seats]": "4"}),
    ("a metadata key removed", {"metadata[team]": ""}),
    ("quantity", {"items[0][id]": "{item}", "items[0][quantity]": "3"}),
    (
        "price and period",
        {"items[0][id]": "{item}", "items[0][price]": "{yearly}", "proration_behavior": "none"},
    ),
    ("a coupon", {"coupon": "{coupon}"}),
    ("collection paused", {"pause_collection[behavior]": "void"}),
    ("description", {"description": "Head office"}),
    ("cancellation undone", {"cancel_at_period_end": "false"}),
]


@pytest.mark.parametrize(("change", "params"), CHANGES, ids=[change for change, _ in CHANGES])
def test_an_update_event_says_what_a_full_serialization_before_and_after_would(
    client: TestClient, catalog: Catalog, change: str, params: dict[str, str]
) -> None:
    coupon = ok(client.post("/v1/coupons", data={"percent_off": "10", "duration": "forever"}))["id"]
    subscription = ok(
        client.post(SUBSCRIPTIONS, data={"customer": catalog.customer(), "items[0][price]": catalog.monthly})
    )
    # Every change runs on a subscription that went through the ones before it in the list.
    for _, earlier in CHANGES[: [c for c, _ in CHANGES].index(change)]:
        ok(
            client.post(
                f"{SUBSCRIPTIONS}/{subscription['id']}", data=_fill(earlier, subscription, catalog, coupon)
            )
        )
    before = ok(client.get(f"{SUBSCRIPTIONS}/{subscription['id']}"))
    after = ok(
        client.post(f"{SUBSCRIPTIONS}/{subscription['id']}", data=_fill(params, before, catalog, coupon))
    )

    event = _latest_update(client, subscription["id"])
    assert event["data"]["object"] == after
    expected = previous_attributes(before, after)
    assert expected, f"{change}: the change should have changed something"
    assert event["data"]["previous_attributes"] == expected


def _fill(
    params: dict[str, str], subscription: dict[str, Any], catalog: Catalog, coupon: str
) -> dict[str, str]:
    values = {"item": subscription["items"]["data"][0]["id"], "yearly": catalog.yearly, "coupon": coupon}
    return {key: value.format(**values) for key, value in params.items()}
