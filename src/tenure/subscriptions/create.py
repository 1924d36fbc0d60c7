"""Creating a subscription: validate everything first, then create, invoice and collect in one transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure import money
from tenure.api.errors import CardError, InvalidRequest
from tenure.api.metadata import apply_metadata
from tenure.billing_context import BillingContext
from tenure.customers.models import Customer
from tenure.customers.service import get_customer
from tenure.ids import new_id
from tenure.invoices.models import BillingReason
from tenure.invoices.service import attempt_payment, create_invoice, subscription_lines
from tenure.payments.models import PaymentMethod
from tenure.prices.models import Price
from tenure.subscriptions.common import (
    apply_discounts,
    record_subscription_event,
    refresh_next_action,
    resolve_discounts,
)
from tenure.subscriptions.models import (
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    empty_cancellation_details,
)
from tenure.subscriptions.periods import DAY, boundary, next_boundary
from tenure.subscriptions.schemas import ItemParams, SubscriptionCreate
from tenure.testclocks.service import object_now

MAX_TRIAL_DAYS = 730


def resolve_prices(
    session: Session, items: list[ItemParams], *, param: str = "items"
) -> list[tuple[Price, int]]:
    """Check the requested prices: they exist, are active and recurring, share currency and interval."""
    resolved: list[tuple[Price, int]] = []
    for index, item in enumerate(items):
        name = f"{param}[{index}][price]"
        if not item.price:
            raise InvalidRequest(f"Missing required param: {name}.", param=name, code="parameter_missing")
        price = session.scalar(select(Price).where(Price.id == item.price))
        if price is None:
            raise InvalidRequest(f"No such price: '{item.price}'", param=name, code="resource_missing")
        if not price.active:
            raise InvalidRequest(f"The price specified is inactive: '{price.id}'.", param=name)
        if price.type != "recurring" or not price.recurring_interval:
            raise InvalidRequest(
                f"The price specified is set to `type=one_time` but this field only accepts prices with "
                f"`type=recurring`: '{price.id}'.",
                param=name,
            )
        first = resolved[0][0] if resolved else price
        if price.currency != first.currency:
            raise InvalidRequest(
                f"All prices on a subscription must have the same currency ({first.currency}); "
                f"'{price.id}' is in {price.currency}.",
                param=name,
            )
        if (price.recurring_interval, price.recurring_interval_count) != (
            first.recurring_interval,
            first.recurring_interval_count,
        ):
            raise InvalidRequest(
                "All prices on a subscription must have the same billing interval.", param=name
            )
        if any(p.id == price.id for p, _ in resolved):
            raise InvalidRequest(f"The price '{price.id}' is on the subscription twice.", param=name)
        quantity = 1 if item.quantity is None else item.quantity
        resolved.append((price, quantity))
    return resolved


def owned_payment_method(
    session: Session, customer: Customer, payment_method_id: str, *, param: str
) -> PaymentMethod:
    method = session.scalar(select(PaymentMethod).where(PaymentMethod.id == payment_method_id))
    if method is None:
        raise InvalidRequest(
            f"No such PaymentMethod: '{payment_method_id}'", param=param, code="resource_missing"
        )
    if method.customer_id != customer.id:
        raise InvalidRequest(
            f"The PaymentMethod {payment_method_id} does not belong to the Customer {customer.id}. "
            "Attach it to the customer first.",
            param=param,
        )
    return method


def _trial_end(params: SubscriptionCreate, prices: list[tuple[Price, int]], now: int) -> int | None:
    if params.trial_end is not None:
        if params.trial_end == "now":
            return None
        if params.trial_end <= now:
            raise InvalidRequest("trial_end must be in the future.", param="trial_end")
        if params.trial_end > now + MAX_TRIAL_DAYS * DAY:
            raise InvalidRequest(f"trial_end can be at most {MAX_TRIAL_DAYS} days away.", param="trial_end")
        return params.trial_end
    days = params.trial_period_days
    if days is None and params.trial_from_plan:
        days = prices[0][0].recurring_trial_period_days
    return now + days * DAY if days else None


def create_subscription(
    session: Session, params: SubscriptionCreate, *, real_now: int, context: BillingContext
) -> Subscription:
    """Create a subscription, its first invoice, and collect it per `payment_behavior`."""
    customer = get_customer(session, params.customer, for_update=True)
    now = object_now(session, real_now, customer.test_clock_id)
    prices = resolve_prices(session, params.items)
    first_price = prices[0][0]
    interval = first_price.recurring_interval or "month"
    count = first_price.recurring_interval_count or 1
    if customer.currency and customer.currency != first_price.currency:
        raise InvalidRequest(
            f"The customer's currency is {customer.currency}; this subscription's prices are in "
            f"{first_price.currency}.",
            param="items[0][price]",
        )
    method = (
        owned_payment_method(session, customer, params.default_payment_method, param="default_payment_method")
        if params.default_payment_method
        else None
    )
    resolved_discounts = resolve_discounts(
        session,
        coupon=params.coupon,
        promotion_code=params.promotion_code,
        discounts=params.discounts,
        customer_id=customer.id,
        now=now,
    )
    for coupon, _ in resolved_discounts:
        if coupon.amount_off is not None and coupon.currency != first_price.currency:
            raise InvalidRequest(
                f"Coupon {coupon.id} is in {coupon.currency}; the subscription is in {first_price.currency}.",
                param="coupon",
            )
    trial_end = _trial_end(params, prices, now)
    anchor = now
    if trial_end is not None:
        anchor = trial_end
    elif params.billing_cycle_anchor is not None:
        natural_end = next_boundary(now, interval, count, now)
        if not now < params.billing_cycle_anchor <= natural_end:
            raise InvalidRequest(
                "billing_cycle_anchor must be in the future and no later than the end of the first period.",
                param="billing_cycle_anchor",
            )
        anchor = params.billing_cycle_anchor
    if params.cancel_at is not None and params.cancel_at <= now:
        raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
    period_end = anchor if anchor > now else next_boundary(anchor, interval, count, now)

    subscription = Subscription(
        id=new_id("sub"),
        created=now,
        customer_id=customer.id,
        status=SubscriptionStatus.INCOMPLETE,
        currency=first_price.currency,
        description=params.description,
        billing_cycle_anchor=anchor,
        start_date=now,
        current_period_start=now,
        current_period_end=period_end,
        cancel_at_period_end=bool(params.cancel_at_period_end),
        cancel_at=params.cancel_at,
        cancellation_details=empty_cancellation_details(),
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        default_payment_method_id=method.id if method else None,
        test_clock_id=customer.test_clock_id,
        metadata_=apply_metadata({}, params.metadata),
    )
    session.add(subscription)
    session.flush()
    for price, quantity in prices:
        session.add(
            SubscriptionItem(
                id=new_id("si"),
                created=now,
                subscription_id=subscription.id,
                price_id=price.id,
                quantity=quantity,
                metadata_={},
            )
        )
    session.flush()
    session.refresh(subscription, ["items"])
    apply_discounts(session, subscription, resolved_discounts, now=now)
    if customer.currency is None:
        customer.currency = first_price.currency

    lines = subscription_lines(session, subscription, period_start=now, period_end=period_end, now=now)
    if trial_end is not None:
        for line in lines:
            line.description = f"Trial period for {line.description.split(' × ', 1)[-1]}"
            line.amount = 0
    elif anchor > now:
        # A first, shorter period up to the anchor: charge its share of a full period.
        full_start = boundary(anchor, interval, count, -1)
        for line in lines:
            line.amount = money.prorate(line.amount, anchor - now, anchor - full_start)
            line.proration = True
    invoice = create_invoice(
        session,
        customer=customer,
        subscription=subscription,
        lines=lines,
        billing_reason=BillingReason.SUBSCRIPTION_CREATE,
        period_start=now,
        period_end=period_end,
        now=now,
    )
    if invoice.status == "paid":
        subscription.status = SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE
    elif params.payment_behavior == "default_incomplete":
        subscription.status = SubscriptionStatus.INCOMPLETE
    else:
        paid = attempt_payment(session, invoice, subscription=subscription, context=context, now=now)
        if paid:
            subscription.status = SubscriptionStatus.ACTIVE
        elif params.payment_behavior == "error_if_incomplete":
            error = invoice.last_payment_error or {}
            raise CardError(str(error.get("message") or "Your card was declined."), code="card_declined")
        else:
            subscription.status = SubscriptionStatus.INCOMPLETE
            # Dunning retries belong to renewals; a first payment is retried by the customer.
            invoice.next_payment_attempt = None
    refresh_next_action(session, subscription)
    session.flush()
    record_subscription_event(session, subscription, "customer.subscription.created", now=now)
    return subscription
