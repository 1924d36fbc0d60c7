"""What the portal shows of a subscription: plan, price, status, next payment after discounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.invoices.preview import upcoming_invoice
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.models import Subscription, SubscriptionStatus

CANCELABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class SubscriptionSummary:
    subscription: Subscription
    plan: str
    unit_amount: int
    currency: str
    interval: str
    interval_count: int
    next_payment_at: int | None
    next_payment_amount: int | None
    ends_at: int | None

    @property
    def cancelable(self) -> bool:
        return self.subscription.status in CANCELABLE and self.ends_at is None

    @property
    def scheduled_to_cancel(self) -> bool:
        return self.ends_at is not None and self.subscription.status not in (
            SubscriptionStatus.CANCELED,
            SubscriptionStatus.INCOMPLETE_EXPIRED,
        )


def access_ends_at(subscription: Subscription) -> int | None:
    """When a scheduled cancellation takes effect (None when none is scheduled)."""
    if subscription.cancel_at_period_end:
        return subscription.current_period_end
    return subscription.cancel_at


def summarize(session: Session, subscription: Subscription) -> SubscriptionSummary:
    item = subscription.items[0]
    price = session.scalar(select(Price).where(Price.id == item.price_id))
    assert price is not None
    product = session.scalar(select(Product).where(Product.id == price.product_id))
    names = product.name if product else price.product_id
    if len(subscription.items) > 1:
        names += f" (+{len(subscription.items) - 1})"
    ends_at = access_ends_at(subscription)
    next_at = next_amount = None
    if subscription.status in CANCELABLE and ends_at is None and not subscription.pause_collection:
        preview = upcoming_invoice(session, subscription)
        next_at, next_amount = subscription.current_period_end, int(preview["amount_due"])
    return SubscriptionSummary(
        subscription=subscription,
        plan=names,
        unit_amount=price.unit_amount * item.quantity,
        currency=subscription.currency,
        interval=price.recurring_interval or "month",
        interval_count=price.recurring_interval_count or 1,
        next_payment_at=next_at,
        next_payment_amount=next_amount,
        ends_at=ends_at,
    )
