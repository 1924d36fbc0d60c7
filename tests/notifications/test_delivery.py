"""Sending: an SMTP server that refuses or is down delays mail but loses none; the local outbox;
the outbox API the dashboard reads."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from fastapi.testclient import TestClient

from tenure.clock import FrozenClock
from tenure.notifications import delivery
from tenure.runtime import Runtime
from tests.conftest import free_port
from tests.notifications.conftest import Mailbox, Shop, work
from tests.subscriptions.conftest import ok


def cancel(client: TestClient, subscription: str) -> None:
    ok(client.post(f"/v1/subscriptions/{subscription}", data={"cancel_at_period_end": "true"}))


def outbox(client: TestClient, **filters: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = ok(client.get("/v1/email_messages", params=filters))["data"]
    return data


def test_refusals_delay_but_lose_nothing(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    customer = shop.customer()
    for _ in range(3):
        cancel(client, shop.subscribe(customer))
    smtp.refuse = 4  # the first four attempts are answered "451 try again later"
    work(runtime)
    assert smtp.messages == [] and smtp.refused == 3
    queued = outbox(client, status="queued")
    assert len(queued) == 3
    assert all(m["attempts"] == 1 and "451" in str(m["last_error"]) for m in queued)
    work(runtime)  # retries wait for their delay
    assert smtp.refused == 3
    clock.advance(delivery.retry_delay(1))
    work(runtime)
    assert len(smtp.messages) == 2 and smtp.refused == 4
    clock.advance(delivery.retry_delay(2))
    work(runtime)
    assert len(smtp.messages) == 3
    assert len({m["Message-ID"] for m in smtp.messages}) == 3
    assert [m["status"] for m in outbox(client)] == ["sent"] * 3
    clock.advance(3600)
    work(runtime)
    assert len(smtp.messages) == 3  # sent once each


def test_a_server_that_is_down_delays_mail(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    up = runtime.settings.smtp_url
    runtime.settings.smtp_url = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    cancel(client, shop.subscribe(shop.customer()))
    work(runtime)
    [message] = outbox(client)
    assert message["status"] == "queued" and message["next_attempt_at"] is not None
    runtime.settings.smtp_url = up
    clock.advance(delivery.retry_delay(1))
    work(runtime)
    assert len(smtp.messages) == 1
    assert outbox(client)[0]["status"] == "sent"


def test_local_outbox_stores_eml_files_and_the_api_lists_them(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    runtime.settings.smtp_url = None
    cancel(client, shop.subscribe(shop.customer(email="local@example.com")))
    work(runtime)
    assert smtp.messages == []
    [listed] = outbox(client)
    assert (listed["object"], listed["kind"], listed["category"], listed["status"]) == (
        "email_message",
        "cancellation",
        "transactional",
        "sent",
    )
    assert listed["to"] == "local@example.com" and "text" not in listed
    path = Path(str(listed["eml_path"]))
    assert path.parent == runtime.settings.data_dir / "outbox" and path.name == f"{listed['id']}.eml"
    stored = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert stored["Subject"] == listed["subject"]
    one = ok(client.get(f"/v1/email_messages/{listed['id']}"))
    assert "Keep my subscription" in str(one["text"]) and "<html" in str(one["html"])
    assert outbox(client, kind="payment_failed") == []
    assert client.get("/v1/email_messages/emsg_nope").status_code == 404
