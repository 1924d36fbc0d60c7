"""The audit log: operators' dashboard actions and API keys' changes, each written in its action's
transaction (a refused action leaves nothing), never with a secret, and shown to admins."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from tenure.audit.models import ActorKind, AuditEntry
from tenure.audit.service import Actor, record
from tenure.keys.models import ApiKey
from tenure.runtime import Runtime
from tenure.staff.models import StaffUser
from tests.dashboard.conftest import ADMIN, Business, as_data, changed, csrf_of, form_fields

SETTINGS = "/dashboard/settings/portal"


def entries(runtime: Runtime, kind: ActorKind | None = None) -> list[AuditEntry]:
    """Oldest first."""
    with runtime.sessionmaker() as session:
        stmt = select(AuditEntry).order_by(AuditEntry.pk)
        if kind is not None:
            stmt = stmt.where(AuditEntry.actor_kind == kind)
        return list(session.scalars(stmt))


def save_settings(admin: TestClient, html: str, values: dict[str, str | list[str] | None]) -> tuple[int, str]:
    answer = admin.post(SETTINGS, data=as_data(changed(form_fields(html, "settings"), values)))
    return answer.status_code, answer.text


def test_portal_settings_changes_are_audited_and_refused_ones_are_not(
    admin: TestClient, runtime: Runtime
) -> None:
    status, created = save_settings(admin, admin.get(SETTINGS).text, {"mode": "immediately"})
    assert status == 200 and "Settings saved" in created
    status, saved = save_settings(admin, created, {"branding[name]": "Studio", "mode": "at_period_end"})
    assert status == 200 and "Settings saved" in saved
    first, second = entries(runtime, ActorKind.STAFF)
    configuration = first.object_id
    assert configuration is not None and configuration.startswith("bpc_")
    assert (first.action, first.summary) == ("portal_configuration.update", {"created": True})
    assert second.object_id == configuration
    assert second.summary == {"changed": ["features.subscription_cancel.mode", "tenure_branding.name"]}
    with runtime.sessionmaker() as session:
        staff_id = session.scalar(select(StaffUser.id).where(StaffUser.email == ADMIN[0]))
    for entry in (first, second):
        assert (entry.actor_kind, entry.actor_id, entry.actor_name) == (ActorKind.STAFF, staff_id, ADMIN[0])
        assert entry.ip == "testclient"  # the TestClient's address

    status, refused = save_settings(
        admin, saved, {"mode": "at_period_end", "proration_behavior": "create_prorations"}
    )
    assert status == 400 and "Nothing was saved" in refused
    assert len(entries(runtime, ActorKind.STAFF)) == 2


def test_api_changes_are_audited_with_the_key_never_its_secret(
    business: Business, client: TestClient, runtime: Runtime, secret_key: str
) -> None:
    customer = business.customer()
    subscription = business.subscribe(customer)
    business.cancel(subscription, feedback="too_expensive")
    with runtime.sessionmaker() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == "tests"))
        assert key is not None
    cancel = entries(runtime)[-1]
    assert (cancel.actor_kind, cancel.actor_id) == (ActorKind.API_KEY, key.id)
    assert cancel.actor_name == f"tests ({key.redacted})"
    assert cancel.action == "DELETE /v1/subscriptions/{subscription_id}"
    assert cancel.object_id == subscription
    assert cancel.summary == {"params": ["cancellation_details"]}  # names, never values
    assert cancel.ip == "testclient"
    created = [e for e in entries(runtime) if e.action == "POST /v1/customers"]
    assert [e.object_id for e in created] == [customer]  # a creation names the object it made
    assert created[0].summary == {"params": ["email", "invoice_settings", "name", "payment_method"]}
    everything = json.dumps([[e.actor_name, e.summary, e.action, e.object_id] for e in entries(runtime)])
    assert secret_key not in everything and secret_key[-12:] not in everything
    assert "ada@example.com" not in everything and "pm_card_visa" not in everything

    count = len(entries(runtime))
    assert client.post("/v1/customers", data={"bogus": "1"}).status_code == 400
    assert client.delete("/v1/subscriptions/sub_missing").status_code == 404
    assert (
        client.post(f"/v1/subscriptions/{subscription}", data={"cancel_at_period_end": "maybe"}).status_code
        == 400
    )
    assert client.get(f"/v1/subscriptions/{subscription}").status_code == 200  # reads are not audited
    assert len(entries(runtime)) == count

    # An idempotent retry replays the answer: one change, one entry.
    for _ in range(2):
        answer = client.post(
            "/v1/customers", data={"email": "x@example.com"}, headers={"Idempotency-Key": "once"}
        )
        assert answer.status_code == 200
    assert len(entries(runtime)) == count + 1


def test_operator_actions_are_audited(admin: TestClient, business: Business, runtime: Runtime) -> None:
    subscription = business.subscribe(business.customer())
    path = f"/dashboard/subscriptions/{subscription}"
    token = csrf_of(admin.get(path).text)
    refused = admin.post(path + "/cancel", data={"csrf_token": token, "mode": "someday", "feedback": "other"})
    assert refused.status_code == 400
    assert entries(runtime, ActorKind.STAFF) == []
    canceled = admin.post(
        path + "/cancel", data={"csrf_token": token, "mode": "at_period_end", "feedback": "unused"}
    )
    assert canceled.status_code == 200

    created = admin.post("/dashboard/api-keys", data={"csrf_token": token, "name": "Backend"})
    secret = re.search(r"<code>(sk_test_\w+)</code>", created.text)
    assert secret
    key_id = re.search(r'<tr id="key-(ak_\w+)">\s*<td data-label="Name">Backend</td>', created.text)
    assert key_id
    admin.post(f"/dashboard/api-keys/{key_id[1]}/revoke", data={"csrf_token": token})
    webhook = admin.post(
        "/dashboard/webhooks",
        data={"csrf_token": token, "url": "https://example.com/hooks", "enabled_events": "*"},
    )
    assert webhook.status_code == 200, webhook.text

    trail = [(e.action, e.object_id) for e in entries(runtime, ActorKind.STAFF)]
    assert trail[:3] == [
        ("subscription.cancel", subscription),
        ("api_key.create", key_id[1]),
        ("api_key.revoke", key_id[1]),
    ]
    assert trail[3][0] == "webhook_endpoint.create" and str(trail[3][1]).startswith("we_")
    assert entries(runtime, ActorKind.STAFF)[0].summary == {
        "mode": "at_period_end",
        "feedback": "unused",
        "prorate": False,
    }
    assert secret[1] not in json.dumps([e.summary for e in entries(runtime)])


def test_the_page_lists_newest_first_with_filters_and_pages(
    admin: TestClient, analyst: TestClient, runtime: Runtime
) -> None:
    ops = Actor(ActorKind.STAFF, "staff_ops", "ops@example.com")
    robot = Actor(ActorKind.API_KEY, "ak_robot", "<b>robot</b> (sk_test_…abcd)")
    with runtime.sessionmaker() as session:
        for n in range(55):
            record(
                session,
                ops,
                action="coupon.create",
                object_id=f"c_{n:02}",
                now=1_800_000_000 + n,
                ip="192.0.2.1",
            )
        record(
            session,
            robot,
            action="POST /v1/customers",
            object_id="cus_1",
            now=1_800_000_100,
            summary={"params": ["email"]},
        )
        session.commit()

    first = admin.get("/dashboard/audit")
    assert first.status_code == 200
    assert 'href="/dashboard/audit" aria-current="page"' in first.text
    rows = re.findall(r"<tr>\s*<td data-label=\"When\">", first.text)
    assert len(rows) == 50
    objects = re.findall(r'data-label="Object" class="mono">\s*(?:<a [^>]*>)?(\w+)', first.text)
    assert objects[:3] == ["cus_1", "c_54", "c_53"]  # newest first
    assert "&lt;b&gt;robot&lt;/b&gt;" in first.text and "<b>robot</b>" not in first.text
    assert "parameters: email" in first.text and "192.0.2.1" in first.text
    older = re.search(r'<a href="([^"]+)">Older →</a>', first.text)
    assert older
    second = admin.get(older[1].replace("&amp;", "&"))
    assert re.findall(r'data-label="Object" class="mono">\s*(\w+)', second.text) == [
        f"c_{n:02}" for n in range(5, -1, -1)
    ]
    assert "Older →" not in second.text

    by_actor = admin.get("/dashboard/audit", params={"actor": "ROBOT"}).text
    assert re.findall(r'data-label="Object" class="mono">\s*<a [^>]*>(\w+)', by_actor) == ["cus_1"]
    assert "c_54" not in by_actor
    by_id = admin.get("/dashboard/audit", params={"actor": "staff_ops", "object": "c_07"}).text
    assert "c_07" in by_id and "c_08" not in by_id and "cus_1" not in by_id
    assert "No entry matches" in admin.get("/dashboard/audit", params={"object": "nothing"}).text

    assert analyst.get("/dashboard/audit").status_code == 403
    assert 'href="/dashboard/audit"' not in analyst.get("/dashboard").text


def test_the_audit_log_is_empty_until_something_changes(admin: TestClient) -> None:
    assert "Nothing recorded yet." in admin.get("/dashboard/audit").text
