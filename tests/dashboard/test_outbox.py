"""The email outbox: what Tenure wrote instead of sending it (no SMTP configured), and its text."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tenure.notifications.delivery import send_due
from tenure.runtime import Runtime
from tests.dashboard.conftest import Business


def test_the_outbox_lists_stored_emails_and_shows_their_text(
    admin: TestClient, business: Business, runtime: Runtime
) -> None:
    empty = admin.get("/dashboard/outbox").text
    assert "No SMTP server is configured" in empty and "No emails yet." in empty
    customer = business.customer(email="leaving@example.com", name="<b>Lea</b>")
    business.cancel(business.subscribe(customer), feedback="unused")
    send_due(runtime)
    listing = admin.get("/dashboard/outbox")
    assert listing.status_code == 200
    assert "leaving@example.com" in listing.text
    link = re.search(r'<a href="/dashboard/outbox/(emsg_\w+)">([^<]+)</a>', listing.text)
    assert link, listing.text
    detail = admin.get(f"/dashboard/outbox/{link.group(1)}").text
    assert '<pre class="comment" id="message-text">' in detail
    assert "<b>Lea</b>" not in detail
    filtered = admin.get("/dashboard/outbox", params={"kind": "win_back"}).text
    assert "leaving@example.com" not in filtered
    assert admin.get("/dashboard/outbox/emsg_missing").status_code == 404
