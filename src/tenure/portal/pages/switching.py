"""Switching plans in the portal: which prices a subscription may move to, and what the switch
will cost (computed by the real update, inside a savepoint that is always rolled back)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.billing_context import BillingContext
from tenure.invoices.models import Invoice
from tenure.invoices.preview import upcoming_invoice
from tenure.payments.processor import ChargeOutcome, ChargeResult, PaymentMethodDetails, PaymentProcessor
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.models import Subscription, SubscriptionStatus
from tenure.subscriptions.schemas import DiscountParams, ItemParams, SubscriptionUpdate
from tenure.subscriptions.update import update_subscription

if TYPE_CHECKING:
    from tenure.payments.models import PaymentMethod

# As in Stripe's portal: only a live subscription that is not ending changes plan.
SWITCHABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


@dataclass(frozen=True)
class PlanChoice:
    """A price the customer may switch to (named and shaped like a subscription summary)."""

    price_id: str
    plan: str
    unit_amount: int
    currency: str
    interval: str
    interval_count: int


@dataclass(frozen=True)
class SwitchPreview:
    due_today: int | None  # an invoice made by the switch itself (new interval, `always_invoice`)
    next_payment_at: int | None
    next_payment_amount: int | None


def can_switch(subscription: Subscription) -> bool:
    """Active or trialing, not scheduled to cancel, one item (Stripe's portal changes no other)."""
    return (
        subscription.status in SWITCHABLE
        and not subscription.cancel_at_period_end
        and subscription.cancel_at is None
        and len(subscription.items) == 1
    )


def prices_allowed(settings: Mapping[str, Any]) -> bool:
    """`features.subscription_update` lets customers change the price (not only the quantity)."""
    return bool(settings.get("enabled")) and "price" in (settings.get("default_allowed_updates") or [])


def plan_choices(
    session: Session, subscription: Subscription, settings: Mapping[str, Any]
) -> list[PlanChoice]:
    """The configured products' active prices in the subscription's currency, in the configured
    order; any interval may be chosen, as in Stripe's portal. The current price is left out."""
    if not prices_allowed(settings):
        return []
    current = {item.price_id for item in subscription.items}
    wanted = [
        (entry["product"], price_id)
        for entry in settings.get("products") or []
        for price_id in entry.get("prices") or []
        if price_id not in current
    ]
    if not wanted:
        return []
    prices = {
        price.id: price
        for price in session.scalars(select(Price).where(Price.id.in_([p for _, p in wanted])))
    }
    products = {
        product.id: product
        for product in session.scalars(select(Product).where(Product.id.in_({p for p, _ in wanted})))
    }
    choices = []
    for product_id, price_id in wanted:
        price, product = prices.get(price_id), products.get(product_id)
        if (
            price is None
            or product is None
            or not (price.active and product.active and price.is_recurring)
            or price.product_id != product.id
            or price.currency != subscription.currency
        ):
            continue
        choices.append(
            PlanChoice(
                price_id=price.id,
                plan=price.nickname or product.name,
                unit_amount=price.unit_amount,
                currency=price.currency,
                interval=price.recurring_interval or "month",
                interval_count=price.recurring_interval_count or 1,
            )
        )
    return choices


def switch_params(
    subscription: Subscription,
    price_id: str,
    *,
    proration_behavior: str,
    quantity: int | None = None,
    discounts: list[dict[str, Any]] | None = None,
) -> SubscriptionUpdate:
    """The update a switch makes: the one item moves to `price_id`, prorated per the configuration."""
    item = ItemParams(id=subscription.items[0].id, price=price_id, quantity=quantity)
    fields: dict[str, Any] = {"items": [item], "proration_behavior": proration_behavior}
    if discounts:
        fields["discounts"] = [
            DiscountParams(coupon=d.get("coupon"), promotion_code=d.get("promotion_code")) for d in discounts
        ]
    return SubscriptionUpdate(**fields)


class _NoCharges:
    """The processor of a preview: validates as the real one would but never moves money."""

    def __init__(self, real: PaymentProcessor) -> None:
        self._real = real

    def create_payment_method(self, *, type: str, details: Mapping[str, Any]) -> PaymentMethodDetails:
        return self._real.create_payment_method(type=type, details=details)

    def resolve_token(self, token: str) -> PaymentMethodDetails | None:
        return self._real.resolve_token(token)

    def charge(
        self, payment_method: PaymentMethod, *, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        return ChargeResult(ChargeOutcome.SUCCEEDED, "ch_preview")


def preview_switch(
    session: Session,
    subscription: Subscription,
    params: SubscriptionUpdate,
    *,
    now: int,
    context: BillingContext,
) -> SwitchPreview:
    """What `params` would charge today and at the next renewal: the real update runs inside a
    savepoint that is always rolled back (nothing is kept, nothing is charged), so the preview
    can never disagree with the switch itself."""
    dry_run = BillingContext(processor=_NoCharges(context.processor), dunning=context.dunning)
    savepoint = session.begin_nested()
    try:
        latest = subscription.latest_invoice_id
        update_subscription(session, subscription, params, now=now, context=dry_run)
        due_today = None
        if subscription.latest_invoice_id != latest:
            invoice = session.scalar(select(Invoice).where(Invoice.id == subscription.latest_invoice_id))
            due_today = invoice.amount_due if invoice is not None else None
        upcoming = upcoming_invoice(session, subscription)
        return SwitchPreview(
            due_today=due_today,
            next_payment_at=subscription.current_period_end,
            next_payment_amount=int(upcoming["amount_due"]),
        )
    finally:
        savepoint.rollback()
