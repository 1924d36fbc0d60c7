"""Text typed by customers and operators is escaped in HTML parts and can never add a header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tenure.runtime import Runtime
from tests.notifications.conftest import Mailbox, Shop, part, work
from tests.subscriptions.conftest import ok

HOSTILE = '<img src=x onerror="alert(1)"> & <a href="javascript:x">'


def test_typed_text_is_escaped_and_headers_stay_single(
    shop: Shop, smtp: Mailbox, runtime: Runtime, client: TestClient
) -> None:
    ok(
        client.post(
            "/v1/billing_portal/configurations",
            data={
                "tenure_branding[name]": "<b>Acme</b>",
                "tenure_branding[accent_color]": "#112233",
                "tenure_texts[en][email_cancellation]": HOSTILE,
                "tenure_texts[en][email_signature]": "Ada & the <team>",
            },
        )
    )
    customer = shop.customer(name=HOSTILE, email="victim@example.com")
    subscription = shop.subscribe(customer)
    ok(client.post(f"/v1/subscriptions/{subscription}", data={"cancel_at_period_end": "true"}))
    ok(
        client.post(
            "/v1/email_campaigns",
            data={
                "kind": "announcement",
                "segment[type]": "customers",
                "segment[customers][0]": customer,
                "content[en][subject]": "Hi\r\nBcc: attacker@example.com",
                "content[en][body]": HOSTILE,
            },
        )
    )
    work(runtime)
    assert len(smtp.messages) == 2
    for message in smtp.messages:
        html, text = part(message, "html"), part(message, "plain")
        assert "<img" not in html and '<a href="javascript' not in html
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;a href=" in html
        assert HOSTILE in text
        assert "&lt;b&gt;Acme&lt;/b&gt;" in html and "<b>Acme</b>" not in html
        assert "#112233" in html
        assert message["Bcc"] is None
    cancellation, campaign = smtp.messages
    assert "Ada &amp; the &lt;team&gt;" in part(cancellation, "html")
    assert campaign["Subject"] == "Hi Bcc: attacker@example.com"
    assert [rcpt for _sender, rcpts in smtp.envelopes for rcpt in rcpts] == ["victim@example.com"] * 2
