"""The portal's final cancel POST writes its own rows and its event, in a bounded number of SQL
statements: webhook deliveries, the insights row and the email follow after commit (issue #16)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from tenure.consumers import drain
from tenure.events.models import Event
from tenure.insights.models import CancellationRecord
from tenure.notifications.models import OutboxMessage
from tenure.runtime import Runtime
from tenure.webhooks.models import WebhookDelivery
from tests.retention.conftest import Business, Tab

# 37-38 before the redesign (24 reads), with 5 more per webhook endpoint; 24 with the consumers
# after commit; now 18 on SQLite (its read phase's BEGIN and COMMIT included) and 16 on PostgreSQL,
# with the subscription serialized once per change.
CANCEL_POST_BUDGET = 18


@pytest.fixture
def app(app_without_drain: FastAPI) -> FastAPI:
    """As `tenure serve` runs it, without a worker: what the request itself does is all that runs."""
    return app_without_drain


@contextmanager
def counting(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)


def test_the_cancel_post_stays_within_its_statement_budget_and_fans_out_after_commit(
    runtime: Runtime, live_server: str, api: httpx.Client, business: Business
) -> None:
    for path in ("/a", "/b", "/c"):
        hook = {"url": live_server + path, "enabled_events[0]": "*"}
        assert api.post("/v1/webhook_endpoints", data=hook).status_code == 200
    customer, subscription = business.subscriber(locale="fr")
    drain(runtime)
    tab = Tab.open(api, live_server, customer=customer, subscription=subscription)
    assert tab.post("", confirm="1").status_code in (200, 303)

    with counting(runtime) as statements:
        answer = tab.post("/reason", reason="too_expensive", comment="trop cher")
    assert answer.status_code == 303, answer.text
    writes = [s for s in statements if not s.lstrip().upper().startswith(("SELECT", "BEGIN", "SAVEPOINT"))]
    assert len(statements) <= CANCEL_POST_BUDGET, "\n".join(statements)
    # Nothing derived was written by the request: the consumers have yet to run.
    assert not any("webhook_deliveries" in s or "cancellations" in s or "email_messages" in s for s in writes)

    with runtime.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(CancellationRecord)) == 0
    drain(runtime)
    with runtime.sessionmaker() as session:
        record = session.scalar(
            select(CancellationRecord).where(CancellationRecord.subscription_id == subscription)
        )
        assert record is not None
        assert (record.source, record.locale, record.flow_id) == ("portal", "fr", tab.flow)
        assert (record.feedback, record.comment) == ("too_expensive", "trop cher")
        cancellation = session.scalars(
            select(Event)
            .where(Event.type == "customer.subscription.updated", Event.object_id == subscription)
            .order_by(Event.pk.desc())
        ).first()
        assert cancellation is not None and cancellation.data["object"]["cancel_at_period_end"] is True
        assert cancellation.pending_webhooks == 3
        delivered_to = session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == cancellation.id)
        ).all()
        assert len(set(delivered_to)) == 3
        emails = session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.customer_id == customer)
        ).all()
        assert "cancellation" in emails
