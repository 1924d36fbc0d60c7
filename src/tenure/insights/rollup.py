"""Keep `cancellations` in step with subscriptions, inside the transaction of each change.

Listens to `customer.subscription.updated` and `.deleted`: a subscription with `canceled_at` has a
row (its decision, reason, MRR and tenure at that moment); a subscription whose cancellation was
undone ("Keep my subscription") loses its row; `ended_at` follows when access actually ends.
"""

from __future__ import annotations

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


def _source(subscription: Subscription, reason: str, existing: CancellationRecord | None) -> str:
    if reason == CancellationReason.PAYMENT_FAILED:
        return CancellationSource.DUNNING
    marked = (subscription.metadata_ or {}).get("tenure_cancellation_source")
    if marked in (CancellationSource.OPERATOR, CancellationSource.PORTAL):
        return str(marked)
    return existing.source if existing is not None else CancellationSource.API


def maintain(session: Session, event: Event) -> None:
    if event.type not in WATCHED:
        return
    subscription_id = event.data["object"]["id"]
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
    record = _apply(session, subscription, record)
    after = (daily.key_of(record), record.mrr)
    if before != after:
        if before is not None:
            daily.move(session, before[0], count=-1, mrr=-before[1])
        daily.move(session, after[0], count=1, mrr=after[1])


def _apply(
    session: Session, subscription: Subscription, record: CancellationRecord | None
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
        "locale": locales[0].split("-")[0] if locales else None,
        "source": _source(subscription, reason, record),
    }
    if record is None:
        record = CancellationRecord(subscription_id=subscription_id, **values)
        session.add(record)
    else:
        for name, value in values.items():
            setattr(record, name, value)
    session.flush()
    return record


def mark_source(
    session: Session, subscription_id: str, *, source: str, flow_id: str | None, locale: str
) -> None:
    """The portal says which flow canceled (called after the cancellation, in the same transaction)."""
    record = session.scalar(
        select(CancellationRecord).where(CancellationRecord.subscription_id == subscription_id)
    )
    if record is not None:
        record.source, record.flow_id, record.locale = source, flow_id, locale
        session.flush()
