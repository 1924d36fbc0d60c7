"""Updating a subscription: cancel flags and reasons, items and prorations, discounts, pause, trial."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure import money
from tenure.api.errors import InvalidRequest
from tenure.api.metadata import apply_metadata
from tenure.billing_context import BillingContext
from tenure.customers.models import Customer
from tenure.ids import new_id
from tenure.invoices.models import BillingReason
from tenure.invoices.service import (
    attempt_payment,
    create_invoice,
    pending_lines,
    subscription_lines,
)
from tenure.prices.models import Price
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions.common import (
    apply_discounts,
    latest_open_invoice,
    recording_update,
    remove_discounts,
    resolve_discounts,
)
from tenure.subscriptions.create import owned_payment_method, resolve_prices
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.periods import next_boundary
from tenure.subscriptions.schemas import ItemParams, SubscriptionUpdate

_ALLOWED_WHEN_ENDED = {"cancellation_details", "metadata", "proration_behavior", "payment_behavior"}


def update_subscription(
    session: Session,
    subscription: Subscription,
    params: SubscriptionUpdate,
    *,
    now: int,
    context: BillingContext,
) -> None:
    """Apply an update as one change, recorded as one `customer.subscription.updated` event."""
    given = params.model_fields_set
    if subscription.status in cancelling.ENDED and given - _ALLOWED_WHEN_ENDED:
        cancelling.ensure_not_ended(subscription, param=sorted(given - _ALLOWED_WHEN_ENDED)[0])
    # Locked up front: an update can invoice prorations (see create_invoice).
    customer = session.scalar(
        select(Customer).where(Customer.id == subscription.customer_id).with_for_update()
    )
    assert customer is not None
    retry_payment = False
    with recording_update(session, subscription, now=now):
        if "metadata" in given:
            subscription.metadata_ = apply_metadata(subscription.metadata_, params.metadata)
        if "description" in given:
            subscription.description = params.description
        if "default_payment_method" in given:
            if params.default_payment_method:
                method = owned_payment_method(
                    session, customer, params.default_payment_method, param="default_payment_method"
                )
                retry_payment = method.id != subscription.default_payment_method_id
                subscription.default_payment_method_id = method.id
            else:
                subscription.default_payment_method_id = None
        _update_cancellation(subscription, params, given, now=now)
        if {"coupon", "promotion_code", "discounts"} & given:
            _update_discounts(session, subscription, params, now=now)
        if "pause_collection" in given:
            _update_pause(subscription, params, now=now)
        if "trial_end" in given and params.trial_end is not None:
            _update_trial(subscription, params, now=now)
        if params.items:
            _update_items(session, subscription, customer, params, now=now, context=context)
        if retry_payment and subscription.status in (
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.INCOMPLETE,
        ):
            retry_latest_invoice(session, subscription, context=context, now=now)


def retry_latest_invoice(
    session: Session, subscription: Subscription, *, context: BillingContext, now: int
) -> bool:
    """A new payment method pays the open invoice at once; success makes the subscription active."""
    invoice = latest_open_invoice(session, subscription)
    if invoice is None:
        return False
    if attempt_payment(session, invoice, subscription=subscription, context=context, now=now):
        subscription.status = SubscriptionStatus.ACTIVE
        return True
    return False


def _update_cancellation(
    subscription: Subscription, params: SubscriptionUpdate, given: set[str], *, now: int
) -> None:
    details = params.cancellation_details
    feedback = details.feedback.value if details and details.feedback else None
    comment = details.comment if details else None
    if "cancel_at_period_end" in given and params.cancel_at_period_end is not None:
        if params.cancel_at_period_end:
            cancelling.schedule_cancel(subscription, now=now, feedback=feedback, comment=comment)
            return
        cancelling.unschedule_cancel(subscription)
    if "cancel_at" in given:
        if params.cancel_at is None:
            cancelling.unschedule_cancel(subscription)
        else:
            if params.cancel_at <= now:
                raise InvalidRequest("cancel_at must be in the future.", param="cancel_at")
            cancelling.schedule_cancel(
                subscription, now=now, feedback=feedback, comment=comment, at=params.cancel_at
            )
            return
    if "cancellation_details" in given and details is not None:
        # Reason given on its own (e.g. after the fact): only the fields sent change.
        merged = dict(subscription.cancellation_details)
        if "feedback" in details.model_fields_set:
            merged["feedback"] = feedback
        if "comment" in details.model_fields_set:
            merged["comment"] = comment
        subscription.cancellation_details = merged


def _update_discounts(
    session: Session, subscription: Subscription, params: SubscriptionUpdate, *, now: int
) -> None:
    discounts = None if params.discounts in ("", None) else params.discounts
    resolved = resolve_discounts(
        session,
        coupon=params.coupon,
        promotion_code=params.promotion_code,
        discounts=discounts if isinstance(discounts, list) else None,
        customer_id=subscription.customer_id,
        now=now,
    )
    for coupon, _ in resolved:
        if coupon.amount_off is not None and coupon.currency != subscription.currency:
            raise InvalidRequest(f"Coupon {coupon.id} is in {coupon.currency}.", param="coupon")
    remove_discounts(session, subscription, now=now)
    apply_discounts(session, subscription, resolved, now=now)


def _update_pause(subscription: Subscription, params: SubscriptionUpdate, *, now: int) -> None:
    pause = params.pause_collection
    if pause in ("", None):
        subscription.pause_collection = None
        return
    assert not isinstance(pause, str)
    if pause.resumes_at is not None and pause.resumes_at <= now:
        raise InvalidRequest("resumes_at must be in the future.", param="pause_collection[resumes_at]")
    subscription.pause_collection = {"behavior": pause.behavior, "resumes_at": pause.resumes_at}


def _update_trial(subscription: Subscription, params: SubscriptionUpdate, *, now: int) -> None:
    if params.trial_end == "now":
        if subscription.status == SubscriptionStatus.TRIALING:
            subscription.trial_end = now
            subscription.current_period_end = now
        return
    assert isinstance(params.trial_end, int)
    if params.trial_end <= now:
        raise InvalidRequest("trial_end must be in the future.", param="trial_end")
    if subscription.status not in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE):
        raise InvalidRequest("Only trialing or active subscriptions can get a trial.", param="trial_end")
    # Extending a trial (or granting one) moves the next charge to the trial's end.
    subscription.trial_start = subscription.trial_start or now
    subscription.trial_end = params.trial_end
    subscription.current_period_end = params.trial_end
    subscription.billing_cycle_anchor = params.trial_end
    subscription.status = SubscriptionStatus.TRIALING
    subscription.trial_will_end_sent = False


def _item_by_id(subscription: Subscription, item_id: str, index: int) -> SubscriptionItem:
    for item in subscription.items:
        if item.id == item_id:
            return item
    raise InvalidRequest(
        f"No such subscription item: '{item_id}'", param=f"items[{index}][id]", code="resource_missing"
    )


def _update_items(
    session: Session,
    subscription: Subscription,
    customer: Customer,
    params: SubscriptionUpdate,
    *,
    now: int,
    context: BillingContext,
) -> None:
    assert params.items is not None
    at = params.proration_date if params.proration_date is not None else now
    old = {item.id: (item.price_id, item.quantity) for item in subscription.items}
    for index, change in enumerate(params.items):
        if change.id:
            item = _item_by_id(subscription, change.id, index)
            if change.deleted:
                subscription.items.remove(item)
                continue
            if change.price:
                ((price, _),) = resolve_prices(
                    session, [ItemParams(price=change.price)], param=f"items[{index}]"
                )
                item.price_id = price.id
            if change.quantity is not None:
                item.quantity = change.quantity
        else:
            if not change.price:
                raise InvalidRequest(
                    f"Missing required param: items[{index}][price].",
                    param=f"items[{index}][price]",
                    code="parameter_missing",
                )
            subscription.items.append(
                SubscriptionItem(
                    id=new_id("si"),
                    created=now,
                    subscription_id=subscription.id,
                    price_id=change.price,
                    quantity=1 if change.quantity is None else change.quantity,
                    metadata_={},
                )
            )
    if not subscription.items:
        raise InvalidRequest("A subscription needs at least one item.", param="items")
    session.flush()
    prices = resolve_prices(
        session, [ItemParams(price=item.price_id, quantity=item.quantity) for item in subscription.items]
    )
    if prices[0][0].currency != subscription.currency:
        raise InvalidRequest("A subscription's currency cannot change.", param="items[0][price]")
    new_interval = (prices[0][0].recurring_interval, prices[0][0].recurring_interval_count)
    old_prices = {
        p.id: p for p in session.scalars(select(Price).where(Price.id.in_([v[0] for v in old.values()])))
    }
    old_any = old_prices[next(iter(old.values()))[0]]
    interval_changed = new_interval != (old_any.recurring_interval, old_any.recurring_interval_count)
    if subscription.status == SubscriptionStatus.TRIALING:
        return
    if params.proration_behavior != "none":
        _add_prorations(session, subscription, old, old_prices, at=at, now=now, whole_period=interval_changed)
    if interval_changed:
        # A new interval starts a new period now, invoiced at once, as Stripe does.
        interval, count = new_interval
        assert interval is not None and count is not None
        subscription.billing_cycle_anchor = now
        subscription.current_period_start = now
        subscription.current_period_end = next_boundary(now, interval, count, now)
        _invoice_now(session, subscription, customer, context=context, now=now, with_items=True)
    elif params.proration_behavior == "always_invoice" and pending_lines(session, subscription):
        _invoice_now(session, subscription, customer, context=context, now=now, with_items=False)


def _add_prorations(
    session: Session,
    subscription: Subscription,
    old: dict[str, tuple[str, int]],
    old_prices: dict[str, Price],
    *,
    at: int,
    now: int,
    whole_period: bool,
) -> None:
    start, end = subscription.current_period_start, subscription.current_period_end
    if not start <= at < end:
        return
    remaining, length = end - at, end - start
    when = datetime.fromtimestamp(at, tz=UTC).strftime("%d %b %Y")
    current = {item.id: (item.price_id, item.quantity) for item in subscription.items}
    for item_id, (price_id, quantity) in old.items():
        if current.get(item_id) == (price_id, quantity):
            continue
        price = old_prices[price_id]
        credit = money.prorate(price.unit_amount * quantity, remaining, length)
        if credit:
            session.add(
                _proration_line(
                    subscription,
                    item_id,
                    price,
                    quantity,
                    -credit,
                    at,
                    end,
                    now,
                    f"Unused time on {quantity} × {price.nickname or price.id} after {when}",
                )
            )
    if whole_period:
        return
    for item in subscription.items:
        if old.get(item.id) == (item.price_id, item.quantity):
            continue
        new_price = session.scalar(select(Price).where(Price.id == item.price_id))
        assert new_price is not None
        charge = money.prorate(new_price.unit_amount * item.quantity, remaining, length)
        if charge:
            session.add(
                _proration_line(
                    subscription,
                    item.id,
                    new_price,
                    item.quantity,
                    charge,
                    at,
                    end,
                    now,
                    f"Remaining time on {item.quantity} × {new_price.nickname or new_price.id} after {when}",
                )
            )
    session.flush()


def _proration_line(
    subscription: Subscription,
    item_id: str,
    price: Price,
    quantity: int,
    amount: int,
    start: int,
    end: int,
    now: int,
    description: str,
) -> object:
    from tenure.invoices.models import InvoiceLine

    return InvoiceLine(
        id=new_id("il"),
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        subscription_item_id=item_id,
        price_id=price.id,
        description=description,
        quantity=quantity,
        amount=amount,
        discount_amounts=[],
        currency=subscription.currency,
        period_start=start,
        period_end=end,
        proration=True,
        created=now,
    )


def _invoice_now(
    session: Session,
    subscription: Subscription,
    customer: Customer,
    *,
    context: BillingContext,
    now: int,
    with_items: bool,
) -> None:
    lines = pending_lines(session, subscription)
    if with_items:
        lines += subscription_lines(
            session,
            subscription,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            now=now,
        )
    invoice = create_invoice(
        session,
        customer=customer,
        subscription=subscription,
        lines=lines,
        billing_reason=BillingReason.SUBSCRIPTION_UPDATE,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        now=now,
    )
    if invoice.status == "open" and not attempt_payment(
        session, invoice, subscription=subscription, context=context, now=now
    ):
        subscription.status = SubscriptionStatus.PAST_DUE
