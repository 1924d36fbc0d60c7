"""The conventions every resource shares, exercised on test clocks (the first resource)."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.runtime import Runtime
from tenure.testclocks.models import TestClock

CLOCKS = "/v1/test_helpers/test_clocks"


def _count(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(TestClock)) or 0)


def test_no_key_is_401_invalid_request(anonymous_client: TestClient) -> None:
    response = anonymous_client.get(CLOCKS)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_wrong_key_is_401(anonymous_client: TestClient) -> None:
    response = anonymous_client.get(CLOCKS, headers={"Authorization": "Bearer sk_test_notarealkey0000"})
    assert response.status_code == 401
    assert "sk_test_notarealkey0000" not in response.text


def test_basic_auth_with_key_as_user(anonymous_client: TestClient, secret_key: str) -> None:
    token = base64.b64encode(f"{secret_key}:".encode()).decode()
    response = anonymous_client.get(CLOCKS, headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200
    assert response.json() == {"object": "list", "data": [], "has_more": False, "url": CLOCKS}


def test_form_and_json_bodies(client: TestClient) -> None:
    form = client.post(CLOCKS, data={"frozen_time": "1700000000", "name": "form"})
    as_json = client.post(CLOCKS, json={"frozen_time": 1700000000, "name": "json"})
    assert form.status_code == as_json.status_code == 200
    assert form.json()["name"] == "form"
    assert as_json.json()["frozen_time"] == 1700000000
    assert form.json()["id"].startswith("clock_")
    assert form.headers["Request-Id"].startswith("req_")


def test_malformed_parameter_names_the_param(client: TestClient, runtime: Runtime) -> None:
    response = client.post(CLOCKS, data={"frozen_time": "soon"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "frozen_time"
    assert "soon" in error["message"]
    assert _count(runtime) == 0


def test_missing_and_unknown_parameters(client: TestClient) -> None:
    missing = client.post(CLOCKS, data={"name": "x"}).json()["error"]
    assert (missing["code"], missing["param"]) == ("parameter_missing", "frozen_time")
    unknown = client.post(CLOCKS, data={"frozen_time": "1", "colour": "red"}).json()["error"]
    assert (unknown["code"], unknown["param"]) == ("parameter_unknown", "colour")


def test_unknown_object_and_url(client: TestClient) -> None:
    missing = client.get(f"{CLOCKS}/clock_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"
    unknown = client.get("/v1/nothing_here")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "invalid_request_error"


def test_pagination(client: TestClient) -> None:
    ids = [client.post(CLOCKS, data={"frozen_time": str(1700000000 + i)}).json()["id"] for i in range(5)]
    newest_first = list(reversed(ids))
    first = client.get(CLOCKS, params={"limit": 2}).json()
    assert [c["id"] for c in first["data"]] == newest_first[:2]
    assert first["has_more"] is True
    second = client.get(CLOCKS, params={"limit": 2, "starting_after": newest_first[1]}).json()
    assert [c["id"] for c in second["data"]] == newest_first[2:4]
    last = client.get(CLOCKS, params={"limit": 2, "starting_after": newest_first[3]}).json()
    assert [c["id"] for c in last["data"]] == newest_first[4:]
    assert last["has_more"] is False
    before = client.get(CLOCKS, params={"limit": 2, "ending_before": newest_first[4]}).json()
    assert [c["id"] for c in before["data"]] == newest_first[2:4]
    assert before["has_more"] is True
    bad_limit = client.get(CLOCKS, params={"limit": 101})
    assert bad_limit.status_code == 400
    assert bad_limit.json()["error"]["param"] == "limit"
    bad_cursor = client.get(CLOCKS, params={"starting_after": "clock_unknown"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["error"]["param"] == "starting_after"


def test_idempotent_replay_is_byte_identical(client: TestClient, runtime: Runtime) -> None:
    headers = {"Idempotency-Key": "create-clock-1"}
    first = client.post(CLOCKS, data={"frozen_time": "1700000000"}, headers=headers)
    again = client.post(CLOCKS, data={"frozen_time": "1700000000"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(runtime) == 1


def test_stored_idempotent_responses_are_encrypted(client: TestClient, runtime: Runtime) -> None:
    created = client.post(
        CLOCKS, data={"frozen_time": "1700000000", "name": "sealed"}, headers={"Idempotency-Key": "sealed-1"}
    ).json()
    from tenure.api.idempotency import IdempotencyRecord

    with runtime.sessionmaker() as session:
        stored = session.scalars(select(IdempotencyRecord.body)).all()
    assert len(stored) == 1
    assert created["id"] not in stored[0]
    assert "sealed" not in stored[0]


def test_idempotency_key_with_other_params_is_refused(client: TestClient, runtime: Runtime) -> None:
    headers = {"Idempotency-Key": "create-clock-2"}
    client.post(CLOCKS, data={"frozen_time": "1700000000"}, headers=headers)
    other = client.post(CLOCKS, data={"frozen_time": "1700000001"}, headers=headers)
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert _count(runtime) == 1


def test_idempotent_errors_are_replayed_too(client: TestClient) -> None:
    headers = {"Idempotency-Key": "bad-clock"}
    first = client.post(CLOCKS, data={"frozen_time": "nope"}, headers=headers)
    again = client.post(CLOCKS, data={"frozen_time": "nope"}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert first.content == again.content


def test_idempotency_keys_expire_after_24_hours(client: TestClient, runtime: Runtime) -> None:
    headers = {"Idempotency-Key": "old-key"}
    client.post(CLOCKS, data={"frozen_time": "1700000000"}, headers=headers)
    runtime.settings.idempotency_ttl_seconds = -1  # everything stored is now older than the window
    again = client.post(CLOCKS, data={"frozen_time": "1700000000"}, headers=headers)
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert _count(runtime) == 2


def test_expand_refuses_fields_that_are_not_expandable(client: TestClient) -> None:
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    response = client.get(f"{CLOCKS}/{clock['id']}", params={"expand[]": "name"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expand"
