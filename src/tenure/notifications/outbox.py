"""Queuing an email in the transaction of its cause: one row per cause, whatever happens after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tenure.ids import new_id
from tenure.notifications.models import CATEGORY, MessageStatus, OutboxMessage


def queue_email(
    session: Session,
    *,
    kind: str,
    cause_key: str,
    occurred_at: int,
    customer_id: str | None = None,
    data: dict[str, Any] | None = None,
    campaign_id: str | None = None,
    status: MessageStatus = MessageStatus.QUEUED,
    note: str | None = None,
) -> bool:
    """Queue one email for `cause_key`; False (and nothing written) when that cause already has one.

    A row written with another status than `queued` records an email that will not be sent, and
    `note` says why (an unsubscribed customer, a renewal that will not happen)."""
    values = {
        "id": new_id("emsg"),
        "cause_key": cause_key[:300],
        "kind": kind,
        "category": CATEGORY[kind],
        "customer_id": customer_id,
        "campaign_id": campaign_id,
        "data": data or {},
        "created": occurred_at,
        "livemode": False,
        "status": status,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": note,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["cause_key"])
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def message_query(
    *,
    status: str | None = None,
    kind: str | None = None,
    customer: str | None = None,
    campaign: str | None = None,
) -> Select[Any]:
    """The outbox as the dashboard lists it (newest first is applied by the pagination)."""
    stmt = select(OutboxMessage)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    if kind is not None:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if customer is not None:
        stmt = stmt.where(OutboxMessage.customer_id == customer)
    if campaign is not None:
        stmt = stmt.where(OutboxMessage.campaign_id == campaign)
    return stmt
