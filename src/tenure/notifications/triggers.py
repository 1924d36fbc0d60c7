"""What queues an email: events (in the transaction that records them), the cancel flow's accepted
offers, and the operator job the webhooks raise when they disable an endpoint.

Each email's `cause_key` names its cause exactly once (an invoice's n-th failed attempt, a
subscription's trial end, a cancellation's `canceled_at`…), so the same cause never sends twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.events.models import Event
from tenure.invoices.preview import upcoming_invoice
from tenure.notifications.models import Kind
from tenure.notifications.outbox import queue_email
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.retention.models import CancellationFlow
from tenure.subscriptions.models import CancellationReason, Discount, Subscription, SubscriptionStatus

log = logging.getLogger(__name__)


def plan_name(session: Session, subscription: Subscription) -> str:
    """What the customer calls their plan: the product's name (and how many other items)."""
    if not subscription.items:
        return subscription.id
    price = session.scalar(select(Price).where(Price.id == subscription.items[0].price_id))
    product = session.scalar(select(Product).where(Product.id == price.product_id)) if price else None
    name = product.name if product else (price.nickname if price and price.nickname else subscription.id)
    if len(subscription.items) > 1:
        name += f" (+{len(subscription.items) - 1})"
    return str(name)


def _subscription(session: Session, subscription_id: str | None) -> Subscription | None:
    if not subscription_id:
        return None
    return session.scalar(select(Subscription).where(Subscription.id == subscription_id))


def access_ends_at(subscription: Subscription) -> int:
    if subscription.cancel_at_period_end or subscription.cancel_at is None:
        return subscription.current_period_end
    return subscription.cancel_at


# --- events --------------------------------------------------------------------------------------


def _payment_failed(session: Session, event: Event) -> None:
    invoice: dict[str, Any] = event.data["object"]
    if invoice.get("billing_reason") == "subscription_create":
        return  # the customer is at checkout and sees the failure there
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = _subscription(session, details.get("subscription"))
    queue_email(
        session,
        kind=Kind.PAYMENT_FAILED,
        cause_key=f"payment_failed:{invoice['id']}:{invoice.get('attempt_count')}",
        occurred_at=event.created,
        customer_id=invoice["customer"],
        data={
            "invoice": invoice["id"],
            "subscription": subscription.id if subscription else None,
            "plan": plan_name(session, subscription)
            if subscription
            else invoice.get("number") or invoice["id"],
            "amount": invoice.get("amount_remaining") or invoice.get("amount_due") or 0,
            "currency": invoice["currency"],
            "next_attempt": invoice.get("next_payment_attempt"),
            "attempt": invoice.get("attempt_count"),
        },
    )


def _trial_will_end(session: Session, event: Event) -> None:
    subscription = _subscription(session, event.data["object"]["id"])
    if subscription is None or subscription.trial_end is None:
        return
    customer = session.scalar(select(Customer).where(Customer.id == subscription.customer_id))
    has_method = bool(
        subscription.default_payment_method_id or (customer and customer.default_payment_method_id)
    )
    queue_email(
        session,
        kind=Kind.TRIAL_ENDING,
        cause_key=f"trial_ending:{subscription.id}:{subscription.trial_end}",
        occurred_at=event.created,
        customer_id=subscription.customer_id,
        data={
            "subscription": subscription.id,
            "plan": plan_name(session, subscription),
            "trial_end": subscription.trial_end,
            "amount": int(upcoming_invoice(session, subscription)["amount_due"]),
            "currency": subscription.currency,
            "has_payment_method": has_method,
        },
    )


def _requested_cancellation(event: Event) -> bool:
    """Whether a `customer.subscription.updated` records a cancellation the customer asked for,
    scheduled or immediate (a cheap test on the event, before any query)."""
    after: dict[str, Any] = event.data["object"]
    before: dict[str, Any] = event.data.get("previous_attributes") or {}
    details = after.get("cancellation_details") or {}
    if details.get("reason") != CancellationReason.CANCELLATION_REQUESTED or not after.get("canceled_at"):
        return False
    scheduled_now = ("cancel_at_period_end" in before and after.get("cancel_at_period_end") is True) or (
        "cancel_at" in before and before.get("cancel_at") is None and after.get("cancel_at") is not None
    )
    ended_now = "status" in before and after.get("status") == SubscriptionStatus.CANCELED
    return scheduled_now or ended_now


def _subscription_updated(session: Session, event: Event) -> None:
    """A cancellation the customer asked for: scheduled (with the date access ends) or immediate."""
    after: dict[str, Any] = event.data["object"]
    subscription = _subscription(session, after["id"])
    if subscription is None:
        return
    scheduled = subscription.status != SubscriptionStatus.CANCELED
    queue_email(
        session,
        kind=Kind.CANCELLATION,
        # A scheduled cancellation and its end share `canceled_at`: one email for both.
        cause_key=f"cancellation:{subscription.id}:{subscription.canceled_at}",
        occurred_at=event.created,
        customer_id=subscription.customer_id,
        data={
            "subscription": subscription.id,
            "plan": plan_name(session, subscription),
            "scheduled": scheduled,
            "ends_at": access_ends_at(subscription) if scheduled else subscription.ended_at or event.created,
        },
    )


EVENT_TRIGGERS: dict[str, Callable[[Session, Event], None]] = {
    "invoice.payment_failed": _payment_failed,
    "customer.subscription.trial_will_end": _trial_will_end,
    "customer.subscription.updated": _subscription_updated,
}


def on_event(session: Session, event: Event) -> None:
    """Event listener: queue the email an event calls for, in the event's own transaction.

    It runs in a savepoint: a fault here is logged and never undoes the change that caused it.
    """
    trigger = EVENT_TRIGGERS.get(event.type)
    if trigger is None:
        return
    if event.type == "customer.subscription.updated" and not _requested_cancellation(event):
        return  # most updates: no email, and no savepoint
    try:
        with session.begin_nested():
            trigger(session, event)
    except Exception:
        log.exception("queuing the email for %s (%s) failed", event.id, event.type)


# --- retention offers ----------------------------------------------------------------------------


def offer_details(session: Session, offer: dict[str, Any], subscription: Subscription) -> dict[str, Any]:
    """What changed, and until when, for the email confirming an accepted offer."""
    from tenure.coupons.models import Coupon

    kind = str(offer.get("type"))
    details: dict[str, Any] = {"type": kind, "currency": subscription.currency}
    if kind == "coupon":
        coupon = session.scalar(select(Coupon).where(Coupon.id == offer.get("coupon")))
        if coupon is not None:
            details.update(
                percent_off=float(coupon.percent_off) if coupon.percent_off is not None else None,
                amount_off=coupon.amount_off,
                currency=coupon.currency or subscription.currency,
                duration=coupon.duration,
            )
        discount = session.scalars(
            select(Discount)
            .where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
            .order_by(Discount.pk.desc())
        ).first()
        details["until"] = discount.end if discount is not None else None
    elif kind == "pause":
        details["until"] = int((subscription.pause_collection or {}).get("resumes_at") or 0) or None
    elif kind == "switch_price":
        price = session.scalar(select(Price).where(Price.id == offer.get("price")))
        product = session.scalar(select(Product).where(Product.id == price.product_id)) if price else None
        details.update(
            new_plan=(price.nickname if price and price.nickname else None)
            or (product.name if product else ""),
            amount=price.unit_amount if price else 0,
            interval=price.recurring_interval if price else None,
            **{"from": subscription.current_period_end},
        )
    elif kind == "extend_trial":
        details["until"] = subscription.trial_end
    return details


def on_offer_accepted(session: Session, flow: CancellationFlow, subscription: Subscription, now: int) -> None:
    """Cancel-flow hook: confirm an accepted retention offer (a contact offer changes nothing)."""
    offer = flow.offer or {}
    if offer.get("type") not in ("coupon", "pause", "switch_price", "extend_trial"):
        return
    try:
        with session.begin_nested():
            queue_email(
                session,
                kind=Kind.OFFER_ACCEPTED,
                cause_key=f"offer_accepted:{flow.id}",
                occurred_at=now,
                customer_id=subscription.customer_id,
                data={
                    "subscription": subscription.id,
                    "plan": plan_name(session, subscription),
                    **offer_details(session, offer, subscription),
                },
            )
    except Exception:
        log.exception("queuing the offer email of flow %s failed", flow.id)


# --- operator ------------------------------------------------------------------------------------


def on_endpoint_disabled(session: Session, payload: dict[str, Any], now: int) -> None:
    """Job handler (`operator.webhook_endpoint_disabled`): tell the operator by email (and in the log,
    for an installation without `TENURE_OPERATOR_EMAIL`)."""
    log.warning(
        "webhook endpoint %s (%s) was disabled: every delivery has failed since %s",
        payload.get("webhook_endpoint"),
        payload.get("url"),
        payload.get("failing_since"),
    )
    queue_email(
        session,
        kind=Kind.ENDPOINT_DISABLED,
        cause_key=f"endpoint_disabled:{payload.get('webhook_endpoint')}:{payload.get('failing_since')}",
        occurred_at=now,
        data={key: payload.get(key) for key in ("webhook_endpoint", "url", "failing_since")},
    )
