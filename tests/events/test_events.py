from __future__ import annotations

from fastapi.testclient import TestClient

from tenure.events.service import previous_attributes

CLOCKS = "/v1/test_helpers/test_clocks"


def test_previous_attributes_reports_old_values_of_changed_fields() -> None:
    before = {
        "id": "sub_1",
        "cancel_at_period_end": False,
        "metadata": {"a": "1", "b": "2"},
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "items": ["x"],
    }
    after = {
        "id": "sub_1",
        "cancel_at_period_end": True,
        "metadata": {"a": "1", "c": "3"},
        "cancellation_details": {
            "comment": "too dear",
            "feedback": "too_expensive",
            "reason": "cancellation_requested",
        },
        "items": ["x"],
    }
    assert previous_attributes(before, after) == {
        "cancel_at_period_end": False,
        "metadata": {"b": "2", "c": None},
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
    }


def test_events_are_listed_newest_first_and_filtered(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    client.post(f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": "1700003600"})
    events = client.get("/v1/events").json()["data"]
    assert [e["type"] for e in events] == [
        "test_helpers.test_clock.ready",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
    ]
    created = events[-1]
    assert created["object"] == "event"
    assert created["id"].startswith("evt_")
    assert created["data"]["object"]["id"] == clock["id"]
    assert created["request"] == {"id": None, "idempotency_key": None}
    assert client.get(f"/v1/events/{created['id']}").json() == created
    only = client.get("/v1/events", params={"type": "test_helpers.test_clock.created"}).json()["data"]
    assert [e["id"] for e in only] == [created["id"]]
    wildcard = client.get("/v1/events", params={"type": "test_helpers.test_clock.*"}).json()["data"]
    assert len(wildcard) == 3
    several = client.get(
        "/v1/events",
        params=[("types[]", "test_helpers.test_clock.created"), ("types[]", "test_helpers.test_clock.ready")],
    ).json()["data"]
    assert len(several) == 2
    assert (
        client.get("/v1/events", params={"created[gt]": str(created["created"] + 10**6)}).json()["data"] == []
    )
    assert client.get("/v1/events/evt_missing").status_code == 404


def test_a_failed_request_records_no_event(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    refused = client.post(f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": "1600000000"})
    assert refused.status_code == 400
    assert [e["type"] for e in client.get("/v1/events").json()["data"]] == ["test_helpers.test_clock.created"]
