from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import standardwebhooks
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.consumers import drain
from tenure.events.service import record_event
from tenure.jobs.models import Job
from tenure.runtime import Runtime
from tenure.webhooks import delivery
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery
from tenure.webhooks.signing import SecretBox, standard_webhooks_headers, stripe_signature

from .conftest import SCHEDULE, Receiver, drive

ENDPOINTS = "/v1/webhook_endpoints"
CLOCKS = "/v1/test_helpers/test_clocks"


def _endpoint(client: TestClient, url: str, *events: str, **extra: str) -> dict[str, Any]:
    response = client.post(ENDPOINTS, data={"url": url, "enabled_events[]": list(events or ["*"]), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _clock_events(client: TestClient) -> list[str]:
    """Create and advance a test clock: three events, oldest first."""
    clock = client.post(CLOCKS, data={"frozen_time": "1700000000"}).json()
    client.post(f"{CLOCKS}/{clock['id']}/advance", data={"frozen_time": "1700003600"})
    return [e["id"] for e in reversed(client.get("/v1/events").json()["data"])]


def _record(runtime: Runtime, count: int) -> list[str]:
    """Record `count` events, and queue their deliveries as the worker does after commit."""
    with runtime.sessionmaker() as session:
        ids = []
        for index in range(count):
            event = record_event(
                session,
                type="test_helpers.test_clock.created",
                obj={"id": f"clock_{index}", "object": "test_helpers.test_clock"},
                now=runtime.clock.now(),
            )
            assert event is not None
            ids.append(event.id)
        session.commit()
    drain(runtime, only=["webhooks"])
    return ids


def _delivered(receiver: Receiver) -> set[str]:
    return {json.loads(r.body)["id"] for r in receiver.snapshot() if r.status < 300}


def test_receiver_failing_three_times_gets_every_event_signed_and_attempts_are_listed(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.fail_first(3)
    endpoint = _endpoint(client, receiver.url)
    secret = endpoint["secret"]
    event_ids = _clock_events(client)
    assert len(event_ids) == 3
    assert {client.get(f"/v1/events/{e}").json()["pending_webhooks"] for e in event_ids} == {1}

    drive(runtime, until=lambda: _delivered(receiver) == set(event_ids))

    requests = receiver.snapshot()
    assert [r.status for r in requests[:3]] == [500, 500, 500]
    for request in requests:
        assert request.path == "/hooks"
        assert request.headers["content-type"].startswith("application/json")
        verified = stripe.Webhook.construct_event(request.body, request.headers["stripe-signature"], secret)
        assert verified.id in event_ids
        assert verified.object == "event"
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(request.body + b" ", request.headers["stripe-signature"], secret)
    assert {client.get(f"/v1/events/{e}").json()["pending_webhooks"] for e in event_ids} == {0}

    attempts = client.get(f"{ENDPOINTS}/{endpoint['id']}/attempts", params={"limit": 100}).json()
    assert attempts["object"] == "list"
    assert len(attempts["data"]) == len(requests) == 6
    for event_id in event_ids:
        listed = client.get(f"/v1/events/{event_id}/webhook_attempts").json()["data"]
        assert listed == [a for a in attempts["data"] if a["event"] == event_id]
        first, second = reversed(listed)
        assert (first["attempt"], first["status_code"], first["succeeded"]) == (1, 500, False)
        assert first["response_excerpt"] == "HTTP 500 Internal Server Error"
        assert first["next_attempt_at"] is not None
        assert (second["attempt"], second["status_code"], second["succeeded"]) == (2, 200, True)
        assert second["response_excerpt"] == "HTTP 200 OK"
        assert second["next_attempt_at"] is None
        assert second["delivery"] == first["delivery"]
        assert second["webhook_endpoint"] == endpoint["id"]
        assert second["object"] == "webhook_attempt"
        assert isinstance(second["duration_ms"], int)
    filtered = client.get(f"{ENDPOINTS}/{endpoint['id']}/attempts", params={"event": event_ids[0]}).json()
    assert {a["event"] for a in filtered["data"]} == {event_ids[0]}
    assert client.get(f"{ENDPOINTS}/we_missing/attempts").status_code == 404
    assert client.get("/v1/events/evt_missing/webhook_attempts").status_code == 404


def test_standard_webhooks_delivery_verifies_with_the_reference_library(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    endpoint = _endpoint(client, receiver.url, signature_scheme="standard_webhooks")
    assert endpoint["signature_scheme"] == "standard_webhooks"
    [event_id] = _record(runtime, 1)
    drive(runtime, until=lambda: _delivered(receiver) == {event_id})

    [request] = receiver.snapshot()
    assert "stripe-signature" not in request.headers
    assert request.headers["webhook-id"] == event_id
    verified = standardwebhooks.Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert verified["id"] == event_id
    assert verified["type"] == "test_helpers.test_clock.created"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(endpoint["secret"]).verify(
            request.body.replace(b"clock_0", b"clock_9"), request.headers
        )


def test_only_enabled_endpoints_that_want_the_type_get_it(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    ready = _endpoint(client, receiver.url + "/ready", "test_helpers.test_clock.ready")
    wildcard = _endpoint(client, receiver.url + "/clock", "test_helpers.test_clock.*")
    off = _endpoint(client, receiver.url + "/off", "*")
    client.post(f"{ENDPOINTS}/{off['id']}", data={"disabled": "true"})
    created, advancing, ready_event = _clock_events(client)
    pending = {e: client.get(f"/v1/events/{e}").json()["pending_webhooks"] for e in (created, ready_event)}
    assert pending == {created: 1, ready_event: 2}

    drive(runtime, until=lambda: len(receiver.snapshot()) == 4)
    drive(runtime, until=lambda: True)
    paths = sorted((r.path, json.loads(r.body)["id"]) for r in receiver.snapshot())
    expected = [("/hooks/clock", e) for e in (created, advancing, ready_event)]
    assert paths == sorted([*expected, ("/hooks/ready", ready_event)])
    assert client.get(f"{ENDPOINTS}/{ready['id']}/attempts").json()["data"][0]["event"] == ready_event
    assert len(client.get(f"{ENDPOINTS}/{wildcard['id']}/attempts").json()["data"]) == 3


def test_manual_resend_of_any_event_to_any_endpoint(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    only_ready = _endpoint(client, receiver.url, "test_helpers.test_clock.ready")
    created = _clock_events(client)[0]
    drive(runtime, until=lambda: len(receiver.snapshot()) == 1)

    resent = client.post(f"{ENDPOINTS}/{only_ready['id']}/resend", data={"event": created})
    assert resent.status_code == 200, resent.text
    body = resent.json()
    assert body["object"] == "webhook_delivery"
    assert (body["event"], body["webhook_endpoint"], body["manual"], body["status"]) == (
        created,
        only_ready["id"],
        True,
        "pending",
    )
    drive(runtime, until=lambda: created in _delivered(receiver))
    request = receiver.snapshot()[-1]
    assert stripe.Webhook.construct_event(
        request.body, request.headers["stripe-signature"], only_ready["secret"]
    )
    [attempt] = client.get(f"/v1/events/{created}/webhook_attempts").json()["data"]
    assert (attempt["manual"], attempt["succeeded"], attempt["delivery"]) == (True, True, body["id"])
    # A manual resend is extra: it does not change the event's count of pending automatic deliveries.
    assert client.get(f"/v1/events/{created}").json()["pending_webhooks"] == 0

    missing_event = client.post(f"{ENDPOINTS}/{only_ready['id']}/resend", data={"event": "evt_missing"})
    assert missing_event.status_code == 400
    assert missing_event.json()["error"]["code"] == "resource_missing"
    assert missing_event.json()["error"]["param"] == "event"
    assert client.post(f"{ENDPOINTS}/we_missing/resend", data={"event": created}).status_code == 404
    assert client.post(f"{ENDPOINTS}/{only_ready['id']}/resend").json()["error"]["param"] == "event"


def test_an_endpoint_failing_for_the_whole_schedule_is_disabled_and_the_operator_told(
    client: TestClient, runtime: Runtime, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.fail_first(10**6, status=503)
    endpoint = _endpoint(client, receiver.url)
    [event_id] = _record(runtime, 1)

    def disabled() -> bool:
        return bool(client.get(f"{ENDPOINTS}/{endpoint['id']}").json()["status"] == "disabled")

    with caplog.at_level(logging.WARNING, logger="tenure.webhooks.delivery"):
        drive(runtime, until=disabled)
        drive(runtime, until=lambda: endpoint["id"] in caplog.text)

    attempts = client.get(f"/v1/events/{event_id}/webhook_attempts").json()["data"]
    assert [a["attempt"] for a in attempts] == [4, 3, 2, 1]  # the first try, then one per scheduled retry
    assert {a["status_code"] for a in attempts} == {503}
    assert attempts[0]["next_attempt_at"] is None
    assert len(receiver.snapshot()) == len(SCHEDULE) + 1
    with runtime.sessionmaker() as session:
        job = session.scalars(select(Job).where(Job.kind == delivery.ENDPOINT_DISABLED_JOB)).one()
        assert job.payload["webhook_endpoint"] == endpoint["id"]
        assert job.done_at is not None
        assert session.scalars(select(WebhookDelivery)).one().status == "failed"
    assert client.get(f"/v1/events/{event_id}").json()["pending_webhooks"] == 1

    # A disabled endpoint receives no new events, until it is enabled again.
    _record(runtime, 1)
    drive(runtime, until=lambda: True)
    assert len(receiver.snapshot()) == len(SCHEDULE) + 1
    receiver.fail_first(0)
    client.post(f"{ENDPOINTS}/{endpoint['id']}", data={"disabled": "false"})
    [later] = _record(runtime, 1)
    drive(runtime, until=lambda: later in _delivered(receiver))


def test_disabling_or_deleting_an_endpoint_stops_its_retries(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.fail_first(10**6)
    kept = _endpoint(client, receiver.url + "/kept")
    gone = _endpoint(client, receiver.url + "/gone")
    [event_id] = _record(runtime, 1)
    assert client.get(f"/v1/events/{event_id}").json()["pending_webhooks"] == 2
    drive(runtime, until=lambda: len(receiver.snapshot()) == 2)

    client.post(f"{ENDPOINTS}/{kept['id']}", data={"disabled": "true"})
    client.delete(f"{ENDPOINTS}/{gone['id']}")
    assert client.get(f"/v1/events/{event_id}").json()["pending_webhooks"] == 1
    time.sleep(SCHEDULE[0] + 0.2)
    drive(runtime, until=lambda: True)
    assert len(receiver.snapshot()) == 2
    with runtime.sessionmaker() as session:
        assert [d.status for d in session.scalars(select(WebhookDelivery))] == ["failed"]


def test_an_attempt_taken_over_after_its_lease_is_recorded_once(client: TestClient, runtime: Runtime) -> None:
    _endpoint(client, "http://127.0.0.1:9/unreachable")
    _record(runtime, 1)
    box = SecretBox("test-secret")
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        [first] = delivery.claim(session, now=now, limit=10, box=box).deliveries
        session.commit()
    with runtime.sessionmaker() as session:
        assert delivery.claim(session, now=now + 1, limit=10, box=box).deliveries == []
        session.commit()
    later = now + delivery.LEASE_SECONDS + 1
    with runtime.sessionmaker() as session:
        [second] = delivery.claim(session, now=later, limit=10, box=box).deliveries
        session.commit()
    assert (second.pk, second.number) == (first.pk, first.number) == (second.pk, 1)

    result = delivery.SendResult(started_at=later, duration_ms=3, status_code=200, status_line="HTTP 200 OK")
    with runtime.sessionmaker() as session:
        assert delivery.record_attempt(session, second, result, now=later, schedule=SCHEDULE) is not None
        session.commit()
    with runtime.sessionmaker() as session:
        assert delivery.record_attempt(session, first, result, now=later, schedule=SCHEDULE) is None
        session.commit()
        assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 1


def test_deliveries_in_flight_per_endpoint_are_bounded_across_workers(
    client: TestClient, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.delay = 0.05
    _endpoint(client, receiver.url)
    event_ids = set(_record(runtime, 3 * delivery.MAX_IN_FLIGHT_PER_ENDPOINT))

    def all_delivered() -> bool:
        return _delivered(receiver) >= event_ids

    workers = [threading.Thread(target=drive, args=(runtime, all_delivered)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert all_delivered()
    assert 1 <= receiver.peak_in_flight <= delivery.MAX_IN_FLIGHT_PER_ENDPOINT


def test_signatures_match_the_reference_implementations() -> None:
    secret = "whsec_" + "a1B2" * 8
    payload = b'{"id": "evt_1", "object": "event"}'
    assert stripe_signature(secret, payload, 1700000000) == stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=1700000000
    )
    headers = standard_webhooks_headers(secret, "evt_1", payload, 1700000000)
    moment = datetime.fromtimestamp(1700000000, UTC)
    expected = standardwebhooks.Webhook(secret).sign("evt_1", moment, payload.decode())
    assert headers["webhook-signature"] == expected


def test_retry_rules() -> None:
    assert delivery.next_attempt_at([60, 300], attempts_made=1, now=1000) == 1060
    assert delivery.next_attempt_at([60, 300], attempts_made=2, now=1000) == 1300
    assert delivery.next_attempt_at([60, 300], attempts_made=3, now=1000) is None
    assert delivery.failing_too_long(None, now=10**9, schedule=[60]) is False
    assert delivery.failing_too_long(1000, now=1059, schedule=[30, 30]) is False
    assert delivery.failing_too_long(1000, now=1060, schedule=[30, 30]) is True
