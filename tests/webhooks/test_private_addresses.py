"""Webhooks go to public addresses only (SSRF): refused at registration and again on every delivery,
after resolving the name, unless `TENURE_WEBHOOK_ALLOW_PRIVATE` is set; attempts keep only a status line.

No test here lets a packet leave loopback: names resolve from `FakeDns`, and `ConnectionGuard` fails
(and records) any connection to another address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.config import Settings
from tenure.ids import new_id
from tenure.jobs.models import Job
from tenure.runtime import Runtime
from tenure.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenure.webhooks.signing import SecretBox

from .conftest import SCHEDULE, ConnectionGuard, FakeDns, Receiver, drive
from .test_delivery import _record

ENDPOINTS = "/v1/webhook_endpoints"
PUBLIC = "93.184.216.34"  # resolved to, never connected to

# Every kind of address a webhook must not reach, spelled as an attacker would.
INTERNAL_URLS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://127.0.0.1:22/",
    "http://[::1]:6379/",
    "http://0x7f000001/",
    "http://0/",
    "http://2130706433/",
    "http://017700000001/",
    "http://127.1/",
    "http://0.0.0.0:8000/",
    "http://[::]/",
    "http://10.1.2.3/hooks",
    "https://10.1.2.4/hooks",
    "http://192.168.1.10/hooks",
    "http://172.16.0.1/hooks",
    "http://100.64.0.1/hooks",  # carrier-grade NAT
    "http://[fc00::1]/hooks",
    "http://[fe80::1]/hooks",
    "http://224.0.0.1/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[::ffff:a9fe:a9fe]/hooks",  # 169.254.169.254, IPv4-mapped
    "http://240.0.0.1/hooks",
    "http://localhost:8000/hooks",
    "http://metadata.example.test/computeMetadata/v1/",
    "http://mixed.example.test/hooks",
]
INTERNAL_NAMES = {
    "metadata.example.test": ["169.254.169.254"],
    "mixed.example.test": [PUBLIC, "10.0.0.7"],  # every address counts, not the first
}


@pytest.fixture
def allow_private() -> bool:
    return False


@pytest.fixture
def settings(database_url: str, tmp_path: Path, allow_private: bool) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret",
        webhook_retry_schedule=SCHEDULE,
        webhook_allow_private=allow_private,
    )


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(names=dict(INTERNAL_NAMES)).install(monkeypatch)


@pytest.fixture(autouse=True)
def guard(dns: FakeDns, monkeypatch: pytest.MonkeyPatch) -> ConnectionGuard:
    return ConnectionGuard().install(monkeypatch)


def _insert_endpoints(runtime: Runtime, urls: list[str]) -> dict[str, str]:
    """Endpoint rows written directly, as if registered while private addresses were allowed."""
    box = SecretBox("test-secret")
    ids = {}
    with runtime.sessionmaker() as session:
        for url in urls:
            endpoint = WebhookEndpoint(
                id=new_id("we"),
                created=runtime.clock.now(),
                url=url,
                enabled_events=["*"],
                status="enabled",
                signature_scheme="stripe",
                secret_encrypted=box.encrypt("whsec_test"),
                metadata_={},
            )
            session.add(endpoint)
            ids[endpoint.id] = url
        session.commit()
    return ids


def _attempts(runtime: Runtime) -> list[WebhookAttempt]:
    with runtime.sessionmaker() as session:
        return list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.pk)))


def _assert_refused(attempts: list[WebhookAttempt], endpoints: dict[str, str]) -> None:
    assert {a.endpoint_id for a in attempts} == set(endpoints)
    for attempt in attempts:
        url = endpoints[attempt.endpoint_id]
        assert not attempt.succeeded and attempt.status_code is None, url
        assert attempt.error is not None and attempt.error.startswith("refused: "), (url, attempt.error)
        assert "not a public address" in attempt.error and len(attempt.error) <= 200, attempt.error
        assert attempt.response_excerpt is None
        assert attempt.next_attempt_at is not None, url  # the normal retry path


# --- registration ----------------------------------------------------------------------------


def test_the_api_refuses_internal_addresses_naming_url(client: TestClient) -> None:
    for url in INTERNAL_URLS:
        answer = client.post(ENDPOINTS, data={"url": url, "enabled_events[]": "*"})
        assert answer.status_code == 400, (url, answer.text)
        error = answer.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "url"), url
        assert "public" in error["message"], error
    assert client.get(ENDPOINTS).json()["data"] == []


def test_the_api_refuses_an_internal_address_on_update(client: TestClient, dns: FakeDns) -> None:
    dns.names["hooks.example.test"] = [PUBLIC]
    created = client.post(ENDPOINTS, data={"url": "https://hooks.example.test/x", "enabled_events[]": "*"})
    assert created.status_code == 200, created.text
    endpoint_id = created.json()["id"]
    for url in ("http://169.254.169.254/", "http://0x7f000001/", "http://metadata.example.test/"):
        answer = client.post(f"{ENDPOINTS}/{endpoint_id}", data={"url": url})
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["error"]["param"] == "url"
    assert client.get(f"{ENDPOINTS}/{endpoint_id}").json()["url"] == "https://hooks.example.test/x"


def test_a_name_that_does_not_resolve_yet_is_accepted(client: TestClient) -> None:
    # Delivery checks it again; DNS may simply not be set up yet.
    answer = client.post(ENDPOINTS, data={"url": "https://not-yet.example.test/", "enabled_events[]": "*"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("allow_private", [True])
def test_the_setting_allows_them(
    client: TestClient, runtime: Runtime, receiver: Receiver, dns: FakeDns
) -> None:
    for url in INTERNAL_URLS:
        answer = client.post(ENDPOINTS, data={"url": url, "enabled_events[]": "customer.created"})
        assert answer.status_code == 200, (url, answer.text)
    port = receiver.server.server_address[1]
    client.post(
        ENDPOINTS, data={"url": f"http://localhost:{port}/hooks", "enabled_events[]": "test_helpers.*"}
    )
    [event_id] = _record(runtime, 1)
    drive(runtime, until=lambda: len(receiver.snapshot()) == 1)
    [attempt] = _attempts(runtime)
    assert (attempt.event_id, attempt.succeeded, attempt.response_excerpt) == (event_id, True, "HTTP 200 OK")


# --- delivery --------------------------------------------------------------------------------


def test_deliveries_to_internal_addresses_are_refused_before_connecting(
    runtime: Runtime, guard: ConnectionGuard
) -> None:
    endpoints = _insert_endpoints(runtime, INTERNAL_URLS)
    _record(runtime, 1)
    drive(runtime, until=lambda: len(_attempts(runtime)) == len(endpoints))
    assert guard.outside == []
    _assert_refused(_attempts(runtime), endpoints)


def test_a_loopback_receiver_gets_nothing_whatever_the_spelling(
    runtime: Runtime, receiver: Receiver, dns: FakeDns, guard: ConnectionGuard
) -> None:
    port = receiver.server.server_address[1]
    dns.names["rebound.example.test"] = ["127.0.0.1"]
    hosts = [
        "127.0.0.1",
        "localhost",
        "0x7f000001",
        "2130706433",
        "017700000001",
        "127.1",
        "0",
        "[::ffff:127.0.0.1]",
        "rebound.example.test",
    ]
    endpoints = _insert_endpoints(runtime, [f"http://{host}:{port}/hooks" for host in hosts])
    _record(runtime, 1)
    drive(runtime, until=lambda: len(_attempts(runtime)) == len(endpoints))
    assert receiver.snapshot() == []
    assert guard.outside == []
    _assert_refused(_attempts(runtime), endpoints)


def test_a_name_rebound_to_loopback_after_registration_is_refused_at_delivery(
    client: TestClient, runtime: Runtime, receiver: Receiver, dns: FakeDns, guard: ConnectionGuard
) -> None:
    port = receiver.server.server_address[1]
    dns.names["rebind.example.test"] = [PUBLIC]
    created = client.post(
        ENDPOINTS, data={"url": f"http://rebind.example.test:{port}/hooks", "enabled_events[]": "*"}
    )
    assert created.status_code == 200, created.text
    dns.names["rebind.example.test"] = ["127.0.0.1"]
    _record(runtime, 1)
    drive(runtime, until=lambda: len(_attempts(runtime)) == 1)
    assert receiver.snapshot() == []
    assert guard.outside == []
    _assert_refused(_attempts(runtime), {created.json()["id"]: "rebind.example.test"})


def test_the_checked_address_is_the_one_connected_to(
    runtime: Runtime,
    receiver: Receiver,
    dns: FakeDns,
    guard: ConnectionGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tenure.webhooks import egress

    # Loopback passes for this test only, so that a connection can be made and looked at.
    checked = egress.address_kind
    monkeypatch.setattr(
        egress, "address_kind", lambda address: None if address.is_loopback else checked(address)
    )
    answers = iter([["127.0.0.1"]])
    dns.names["pinned.example.test"] = lambda: next(answers, ["10.0.0.9"])  # a second look-up rebinds
    port = receiver.server.server_address[1]
    _insert_endpoints(runtime, [f"http://pinned.example.test:{port}/hooks"])
    _record(runtime, 1)
    drive(runtime, until=lambda: len(_attempts(runtime)) == 1)
    [request] = receiver.snapshot()
    assert request.headers["host"] == f"pinned.example.test:{port}"
    assert dns.asked.count("pinned.example.test") == 1
    assert guard.outside == []
    assert _attempts(runtime)[0].succeeded


def test_refused_deliveries_are_retried_then_the_endpoint_disabled(
    runtime: Runtime, guard: ConnectionGuard
) -> None:
    endpoints = _insert_endpoints(runtime, ["http://169.254.169.254/latest/meta-data/"])
    _record(runtime, 1)

    def settled() -> bool:
        with runtime.sessionmaker() as session:
            return session.scalar(select(WebhookDelivery.status)) == DeliveryStatus.FAILED

    drive(runtime, until=settled)
    attempts = _attempts(runtime)
    assert [a.number for a in attempts] == [1, 2, 3, 4]
    assert all(a.error and a.error.startswith("refused: ") for a in attempts)
    assert guard.outside == []
    with runtime.sessionmaker() as session:
        endpoint = session.scalar(select(WebhookEndpoint))
        assert endpoint is not None and endpoint.id in endpoints
        assert endpoint.status == "disabled"
        assert session.scalar(select(Job).where(Job.kind == "operator.webhook_endpoint_disabled")) is not None


# --- what is kept of the answer --------------------------------------------------------------


@pytest.mark.parametrize("allow_private", [True])
def test_attempts_keep_only_the_status_line(client: TestClient, runtime: Runtime, receiver: Receiver) -> None:
    receiver.fail_first(1)
    endpoint = client.post(ENDPOINTS, data={"url": receiver.url, "enabled_events[]": "*"}).json()
    [event_id] = _record(runtime, 1)
    drive(runtime, until=lambda: len(receiver.snapshot()) == 2)
    listed = client.get(f"{ENDPOINTS}/{endpoint['id']}/attempts").json()["data"]
    assert [(a["status_code"], a["response_excerpt"]) for a in listed] == [
        (200, "HTTP 200 OK"),
        (500, "HTTP 500 Internal Server Error"),
    ]
    assert client.get(f"/v1/events/{event_id}/webhook_attempts").json()["data"] == listed
    for attempt in _attempts(runtime):
        for column in WebhookAttempt.__table__.columns:
            value = getattr(attempt, column.key)
            assert not (isinstance(value, str) and ("receiver says no" in value or value == "ok")), column


@pytest.fixture
def banner() -> Iterator[int]:
    """A loopback service that is not HTTP: it greets with a banner and hangs up (as SSH or Redis do)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.9 internal-secret-banner\r\nkey: value\r\n\r\n")
                with contextlib.suppress(OSError):
                    connection.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("allow_private", [True])
def test_what_a_non_http_service_sends_is_not_kept(client: TestClient, runtime: Runtime, banner: int) -> None:
    client.post(ENDPOINTS, data={"url": f"http://127.0.0.1:{banner}/", "enabled_events[]": "*"})
    _record(runtime, 1)
    drive(runtime, until=lambda: len(_attempts(runtime)) == 1)
    [attempt] = _attempts(runtime)
    assert attempt.status_code is None and attempt.error
    for value in (attempt.error, attempt.response_excerpt):
        assert not value or ("SSH" not in value and "banner" not in value), value


def test_status_lines() -> None:
    from tenure.webhooks.delivery import status_line

    assert status_line(200) == "HTTP 200 OK"
    assert status_line(503) == "HTTP 503 Service Unavailable"
    assert status_line(299) == "HTTP 299"


# --- the demo --------------------------------------------------------------------------------


def test_serve_demo_allows_private_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import tenure.demo
    from tenure import cli

    served: list[Any] = []
    monkeypatch.delenv("TENURE_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.setenv("TENURE_DATA_DIR", str(tmp_path / "demo"))
    monkeypatch.delenv("TENURE_DATABASE_URL", raising=False)
    monkeypatch.setattr(tenure.demo, "seed_demo", lambda runtime, **_: "sk_test_demo")
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(cli.app, ["serve", "--demo", "--no-worker"])
    assert result.exit_code == 0, result.output
    [app] = served
    assert app.state.runtime.settings.webhook_allow_private is True
