"""Operator emails: a webhook endpoint disabled after failing deliveries; the opt-in daily digest of
cancellations with their reasons. Customers' own words are escaped in every HTML part."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tenure.clock import FrozenClock
from tenure.jobs.queue import enqueue
from tenure.runtime import Runtime
from tenure.webhooks.delivery import ENDPOINT_DISABLED_JOB
from tests.notifications.conftest import DAY, Mailbox, Shop, part, work
from tests.subscriptions.conftest import ok

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


def test_disabled_webhook_endpoint_tells_the_operator_once(
    smtp: Mailbox, runtime: Runtime, clock: FrozenClock
) -> None:
    payload = {
        "webhook_endpoint": "we_123",
        "url": "https://hooks.example.com/in",
        "failing_since": clock.now() - 3 * DAY,
    }
    with runtime.sessionmaker() as session:
        enqueue(session, ENDPOINT_DISABLED_JOB, payload, now=clock.now(), unique_key="job-1")
        enqueue(
            session, ENDPOINT_DISABLED_JOB, payload, now=clock.now(), unique_key="job-2"
        )  # the same cause
        session.commit()
    work(runtime)
    [message] = smtp.messages
    assert message["To"] == "ops@acme.test"
    assert message["Subject"] == "Webhook endpoint disabled: https://hooks.example.com/in"
    text = part(message, "plain")
    assert "we_123" in text and "disabled=false" in text


def test_operator_emails_need_an_operator_address(
    smtp: Mailbox, runtime: Runtime, clock: FrozenClock
) -> None:
    runtime.settings.operator_email = None
    with runtime.sessionmaker() as session:
        enqueue(
            session,
            ENDPOINT_DISABLED_JOB,
            {"webhook_endpoint": "we_1", "url": "https://x.test"},
            now=clock.now(),
        )
        session.commit()
    work(runtime)
    assert smtp.messages == []


def test_daily_digest_of_cancellations_is_opt_in_with_reasons_escaped(
    shop: Shop, smtp: Mailbox, runtime: Runtime, clock: FrozenClock, client: TestClient
) -> None:
    clock.set(clock.now() - clock.now() % DAY + 10 * 3600)  # 10:00 UTC
    for email, feedback, comment in (
        ("a@example.com", "too_expensive", HOSTILE),
        ("b@example.com", "missing_features", None),
        ("c@example.com", "too_expensive", None),
    ):
        subscription = shop.subscribe(shop.customer(email=email, name=HOSTILE))
        data = {"cancel_at_period_end": "true", "cancellation_details[feedback]": feedback}
        if comment:
            data["cancellation_details[comment]"] = comment
        ok(client.post(f"/v1/subscriptions/{subscription}", data=data))
    clock.advance(DAY)
    work(runtime)
    assert smtp.of_kind("cancellation_digest") == []  # opt-in
    runtime.settings.operator_digest = True
    work(runtime)
    work(runtime)
    [digest] = smtp.of_kind("cancellation_digest")
    assert digest["To"] == "ops@acme.test"
    assert digest["Subject"].startswith("Cancellations on ") and digest["Subject"].endswith(": 3")
    text, html = part(digest, "plain"), part(digest, "html")
    assert "It’s too expensive: 2" in text and "I need more features: 1" in text
    assert HOSTILE in text
    assert (
        "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    )
    # Customer emails carry the hostile name escaped too.
    confirmation = smtp.to("a@example.com")[0]
    assert "<script>" not in part(confirmation, "html")
    assert f"Hello {HOSTILE}," in part(confirmation, "plain")
    clock.advance(3600)
    work(runtime)
    assert len(smtp.of_kind("cancellation_digest")) == 1
