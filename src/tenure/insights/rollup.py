"""Keep `cancellations` in step with subscriptions: the `cancellations` consumer of the event log.

It reads `customer.subscription.updated` and `.deleted` after commit: a subscription with
`canceled_at` has a row (its decision, reason, MRR and tenure at that moment); a subscription whose
cancellation was undone ("Keep my subscription") loses its row; `ended_at` follows when access
actually ends. Who canceled (the portal's flow, an operator, the API, dunning) comes from the
cancelling event's `origin`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.events.models import Event
from tenure.insights import daily
from tenure.insights.models import CancellationRecord, CancellationSource
from tenure.insights.mrr import subscription_mrr
from tenure.prices.models import Price
from tenure.subscriptions.models import CancellationReason, Subscription

DAY = 86_400
WATCHED = ("customer.subscription.updated", "customer.subscription.deleted")


def _source(reason: str, origin: dict[str, Any], existing: CancellationRecord | None) -> str:
    if reason == CancellationReason.PAYMENT_FAILED:
        return CancellationSource.DUNNING
    marked = origin.get("source")
    if marked in (CancellationSource.OPERATOR, CancellationSource.PORTAL):
        return str(marked)
    return existing.source if existing is not None else CancellationSource.API


def maintain(session: Session, events: Sequence[Event], now: int) -> None:
    """Consumer: bring the rows of the subscriptions these events changed up to date (once each:
    a row follows the subscription as it is now, with the newest origin the events carry)."""
    origins: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type in WATCHED:
            subscription_id = str(event.data["object"]["id"])
            origins[subscription_id] = event.origin or origins.get(subscription_id) or {}
    for subscription_id, origin in origins.items():
        _maintain_one(session, subscription_id, origin)


def _maintain_one(session: Session, subscription_id: str, origin: dict[str, Any]) -> None:
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    if subscription is None:
        return
    record = session.scalar(
        select(CancellationRecord).where(CancellationRecord.subscription_id == subscription_id)
    )
    if subscription.canceled_at is None:
        if record is not None:
            daily.move(session, daily.key_of(record), count=-1, mrr=-record.mrr)
            session.delete(record)
            session.flush()
        return
    before = (daily.key_of(record), record.mrr) if record is not None else None
    record = _apply(session, subscription, record, origin)
    after = (daily.key_of(record), record.mrr)
    if before != after:
        if before is not None:
            daily.move(session, before[0], count=-1, mrr=-before[1])
        daily.move(session, after[0], count=1, mrr=after[1])


def _apply(
    session: Session, subscription: Subscription, record: CancellationRecord | None, origin: dict[str, Any]
) -> CancellationRecord:
    """Write the subscription's cancellation into its `cancellations` row."""
    subscription_id, canceled_at = subscription.id, subscription.canceled_at
    assert canceled_at is not None
    details = subscription.cancellation_details or {}
    reason = str(details.get("reason") or CancellationReason.CANCELLATION_REQUESTED)
    if record is not None and record.canceled_at == canceled_at:
        # Same decision: only what can change afterwards (reason text, end of access).
        record.ended_at = subscription.ended_at
        record.feedback, record.comment = details.get("feedback"), details.get("comment")
        session.flush()
        return record
    item = subscription.items[0] if subscription.items else None
    price = session.scalar(select(Price).where(Price.id == item.price_id)) if item else None
    customer = session.scalar(select(Customer).where(Customer.id == subscription.customer_id))
    locales = list(customer.preferred_locales or []) if customer else []
    values = {
        "customer_id": subscription.customer_id,
        "canceled_at": canceled_at,
        "ended_at": subscription.ended_at,
        "started_at": subscription.start_date,
        "tenure_days": max(canceled_at - subscription.start_date, 0) // DAY,
        "reason": reason,
        "feedback": details.get("feedback"),
        "comment": details.get("comment"),
        "price_id": price.id if price else None,
        "product_id": price.product_id if price else None,
        "currency": subscription.currency,
        "mrr": subscription_mrr(session, subscription, at=canceled_at),
        "locale": origin.get("locale") or (locales[0].split("-")[0] if locales else None),
        "source": _source(reason, origin, record),
        "flow_id": origin.get("flow"),
    }
    if record is None:
        record = CancellationRecord(subscription_id=subscription_id, **values)
        session.add(record)
    else:
        for name, value in values.items():
            setattr(record, name, value)
    session.flush()
    return record
