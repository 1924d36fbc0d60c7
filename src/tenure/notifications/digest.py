"""The operator's daily digest (opt-in, `TENURE_OPERATOR_DIGEST`): yesterday's cancellations (UTC
day), each with the customer, the plan, the reason and the customer's own words.

Queued by the first worker pass of each day; `cancellation_digest:<date>` keeps it to one per day.
Subscriptions on test clocks are left out: they are not the business's real customers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.notifications.models import Kind, MessageStatus, OutboxMessage
from tenure.notifications.outbox import queue_email
from tenure.notifications.triggers import plan_name
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription

DAY = 86_400
MAX_ROWS = 500


def digest_key(day_start: int) -> str:
    return f"cancellation_digest:{datetime.fromtimestamp(day_start, tz=UTC).date().isoformat()}"


def cancellations(session: Session, *, start: int, end: int) -> tuple[list[dict[str, object]], bool]:
    """The cancellations requested or recorded in [start, end), oldest first; and whether truncated."""
    rows = session.execute(
        select(Subscription, Customer)
        .join(Customer, Customer.id == Subscription.customer_id)
        .where(
            Subscription.test_clock_id.is_(None),
            Subscription.canceled_at >= start,
            Subscription.canceled_at < end,
        )
        .order_by(Subscription.canceled_at, Subscription.pk)
        .limit(MAX_ROWS + 1)
    ).all()
    listed = [
        {
            "subscription": subscription.id,
            "customer": customer.id,
            "customer_email": customer.email,
            "plan": plan_name(session, subscription),
            "canceled_at": subscription.canceled_at,
            "reason": (subscription.cancellation_details or {}).get("reason"),
            "feedback": (subscription.cancellation_details or {}).get("feedback"),
            "comment": (subscription.cancellation_details or {}).get("comment"),
        }
        for subscription, customer in rows[:MAX_ROWS]
    ]
    return listed, len(rows) > MAX_ROWS


def queue_daily_digest(runtime: Runtime) -> int:
    """Periodic task: once a day, queue the digest of the previous day (a quiet day sends nothing)."""
    if not runtime.settings.operator_digest:
        return 0
    now = runtime.clock.now()
    end = now - now % DAY
    start = end - DAY
    key = digest_key(start)
    with runtime.sessionmaker() as session:
        if session.scalar(select(OutboxMessage.pk).where(OutboxMessage.cause_key == key)) is not None:
            return 0
        listed, truncated = cancellations(session, start=start, end=end)
        queue_email(
            session,
            kind=Kind.CANCELLATION_DIGEST,
            cause_key=key,
            occurred_at=now,
            data={"start": start, "end": end, "cancellations": listed, "truncated": truncated},
            status=MessageStatus.QUEUED if listed else MessageStatus.SKIPPED,
        )
        session.commit()
    return 1
