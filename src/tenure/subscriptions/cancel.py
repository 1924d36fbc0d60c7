"""Canceling: now (optionally crediting unused time) or at period end; and undoing a scheduled cancel."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure import money
from tenure.api.errors import InvalidRequest
from tenure.customers.models import Customer
from tenure.ids import new_id
from tenure.invoices.models import BillingReason, Invoice, InvoiceLine, InvoiceStatus
from tenure.invoices.service import create_invoice, stop_retries
from tenure.subscriptions.common import record_subscription_event, recording_update
from tenure.subscriptions.models import (
    CancellationReason,
    Subscription,
    SubscriptionStatus,
    empty_cancellation_details,
)

ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)


def ensure_not_ended(subscription: Subscription, *, param: str | None = None) -> None:
    if subscription.status in ENDED:
        raise InvalidRequest(
            f"This subscription is {subscription.status}: "
            "only its cancellation_details and metadata can change.",
            param=param,
            code="subscription_canceled" if param is None else None,
        )


def paid_for_current_period(session: Session, subscription: Subscription) -> int:
    """What the customer paid, after discounts, for the current period's items (prorations excluded)."""
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.subscription_id == subscription.id,
            Invoice.status == InvoiceStatus.PAID,
            Invoice.period_start == subscription.current_period_start,
        )
    )
    paid = 0
    for invoice in invoices:
        net = sum(
            line.amount - sum(int(d["amount"]) for d in line.discount_amounts)
            for line in invoice.lines
            if not line.proration and line.amount > 0
        )
        paid += max(min(net, invoice.total), 0)
    return paid


def unused_time_credit(session: Session, subscription: Subscription, *, at: int) -> int:
    """The share of what was paid for this period that covers the time after `at`, exact to the second."""
    start, end = subscription.current_period_start, subscription.current_period_end
    if not start <= at < end:
        return 0
    return money.prorate(paid_for_current_period(session, subscription), end - at, end - start)


def _credit_invoice(session: Session, subscription: Subscription, credit: int, *, now: int) -> None:
    customer = session.scalar(
        select(Customer).where(Customer.id == subscription.customer_id).with_for_update()
    )
    assert customer is not None
    when = datetime.fromtimestamp(now, tz=UTC).strftime("%d %b %Y")
    line = InvoiceLine(
        id=new_id("il"),
        customer_id=customer.id,
        subscription_id=subscription.id,
        subscription_item_id=None,
        price_id=subscription.items[0].price_id if subscription.items else None,
        description=f"Unused time after {when}",
        quantity=1,
        amount=-credit,
        discount_amounts=[],
        currency=subscription.currency,
        period_start=now,
        period_end=subscription.current_period_end,
        proration=True,
        created=now,
    )
    create_invoice(
        session,
        customer=customer,
        subscription=subscription,
        lines=[line],
        billing_reason=BillingReason.SUBSCRIPTION_CANCEL,
        period_start=now,
        period_end=subscription.current_period_end,
        now=now,
        apply_discounts=False,
    )


def cancel_now(
    session: Session,
    subscription: Subscription,
    *,
    now: int,
    feedback: str | None = None,
    comment: str | None = None,
    reason: CancellationReason = CancellationReason.CANCELLATION_REQUESTED,
    prorate: bool = False,
) -> None:
    """End the subscription now. The cancellation and its reason are one `customer.subscription.updated`
    (status and cancellation_details together), followed by `customer.subscription.deleted`."""
    ensure_not_ended(subscription)
    with recording_update(session, subscription, now=now):
        credit = unused_time_credit(session, subscription, at=now) if prorate else 0
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = now
        subscription.ended_at = now
        subscription.cancel_at_period_end = False
        subscription.cancel_at = None
        subscription.cancellation_details = {"comment": comment, "feedback": feedback, "reason": reason.value}
        stop_retries(session, subscription.id)
        if credit > 0:
            _credit_invoice(session, subscription, credit, now=now)
    record_subscription_event(session, subscription, "customer.subscription.deleted", now=now)


def end_at(session: Session, subscription: Subscription, *, ended_at: int) -> None:
    """A scheduled cancellation takes effect (its reason was recorded when it was scheduled)."""
    subscription.status = SubscriptionStatus.CANCELED
    subscription.ended_at = ended_at
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    if subscription.canceled_at is None:
        subscription.canceled_at = ended_at
    if not subscription.cancellation_details.get("reason"):
        subscription.cancellation_details = {
            **subscription.cancellation_details,
            "reason": CancellationReason.CANCELLATION_REQUESTED.value,
        }
    stop_retries(session, subscription.id)
    subscription.next_action_at = None
    session.flush()
    record_subscription_event(session, subscription, "customer.subscription.deleted", now=ended_at)


def schedule_cancel(
    subscription: Subscription, *, now: int, feedback: str | None, comment: str | None, at: int | None = None
) -> None:
    """Mark the subscription to end at period end (or at `at`): the decision is stamped now."""
    if at is None:
        subscription.cancel_at_period_end = True
        subscription.cancel_at = None
    else:
        subscription.cancel_at = at
        subscription.cancel_at_period_end = False
    subscription.canceled_at = now
    subscription.cancellation_details = {
        "comment": comment,
        "feedback": feedback,
        "reason": CancellationReason.CANCELLATION_REQUESTED.value,
    }


def unschedule_cancel(subscription: Subscription) -> None:
    """ "Keep my subscription": undo a scheduled cancellation and its reason."""
    subscription.cancel_at_period_end = False
    subscription.cancel_at = None
    subscription.canceled_at = None
    subscription.cancellation_details = empty_cancellation_details()
