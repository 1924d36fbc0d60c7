"""Shared by the subscription use cases: loading, discounts, the next due moment, the update event."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.coupons.models import Coupon
from tenure.coupons.service import find_active_code, get_coupon, redeem, redeem_promotion_code
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.invoices.models import Invoice, InvoiceStatus
from tenure.prices.models import Price
from tenure.subscriptions.changes import SubscriptionBefore, serialize_change
from tenure.subscriptions.models import Discount, Subscription, SubscriptionStatus
from tenure.subscriptions.periods import DAY, add_months, next_boundary
from tenure.subscriptions.schemas import DiscountParams, serialize_subscription
from tenure.testclocks.service import object_now

TRIAL_WILL_END_NOTICE = 3 * DAY
INCOMPLETE_EXPIRY = 23 * 3600


def get_subscription(session: Session, subscription_id: str, *, for_update: bool = False) -> Subscription:
    stmt = select(Subscription).where(Subscription.id == subscription_id)
    if for_update:
        stmt = stmt.with_for_update()
    subscription = session.scalar(stmt)
    if subscription is None:
        raise ResourceMissing("subscription", subscription_id)
    return subscription


def subscription_now(session: Session, subscription: Subscription, real_now: int) -> int:
    return object_now(session, real_now, subscription.test_clock_id)


def latest_open_invoice(session: Session, subscription: Subscription) -> Invoice | None:
    if subscription.latest_invoice_id is None:
        return None
    invoice = session.scalar(select(Invoice).where(Invoice.id == subscription.latest_invoice_id))
    return invoice if invoice is not None and invoice.status == InvoiceStatus.OPEN else None


# Statuses whose next action depends on the latest open invoice's next payment attempt.
RETRYING = (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.PAST_DUE)


class Schedulable(Protocol):
    """The subscription's columns that say when something is next due on it."""

    @property
    def status(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def cancel_at(self) -> int | None: ...
    @property
    def trial_end(self) -> int | None: ...
    @property
    def trial_will_end_sent(self) -> bool: ...
    @property
    def current_period_end(self) -> int: ...
    @property
    def pause_collection(self) -> dict[str, Any] | None: ...


def refresh_next_action(session: Session, subscription: Subscription) -> None:
    """Recompute the earliest moment the billing runner must look at this subscription again."""
    retry_at = None
    if subscription.status in RETRYING:
        invoice = latest_open_invoice(session, subscription)
        retry_at = invoice.next_payment_attempt if invoice is not None else None
    subscription.next_action_at = next_action_at(subscription, retry_at=retry_at)


def next_action_at(subscription: Schedulable, *, retry_at: int | None) -> int | None:
    """The earliest moment something is due on the subscription (renewal, retry, trial notice,
    scheduled cancel, resumed collection); `retry_at` is its latest open invoice's next payment
    attempt, which counts for the `RETRYING` statuses only."""
    status = subscription.status
    due: list[int] = []
    if status in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED):
        return None
    if status == SubscriptionStatus.INCOMPLETE:
        due.append(subscription.created + INCOMPLETE_EXPIRY)
        if retry_at is not None:
            due.append(retry_at)
        return min(due)
    if subscription.cancel_at is not None:
        due.append(subscription.cancel_at)
    if (
        status == SubscriptionStatus.TRIALING
        and subscription.trial_end
        and not subscription.trial_will_end_sent
    ):
        due.append(max(subscription.trial_end - TRIAL_WILL_END_NOTICE, subscription.created))
    if status != SubscriptionStatus.PAUSED:
        due.append(subscription.current_period_end)
    if status == SubscriptionStatus.PAST_DUE and retry_at is not None:
        due.append(retry_at)
    if subscription.pause_collection and subscription.pause_collection.get("resumes_at"):
        due.append(int(subscription.pause_collection["resumes_at"]))
    return min(due) if due else None


class Renewable(Protocol):
    @property
    def billing_cycle_anchor(self) -> int: ...
    @property
    def current_period_end(self) -> int: ...


def renewal_period(subscription: Renewable, price: Price) -> tuple[int, int]:
    """(start, end) of the period a renewal begins: from the end of the current one to the next
    boundary of the subscription's cycle, on the interval of its first item's `price`."""
    assert price.recurring_interval is not None
    start = subscription.current_period_end
    end = next_boundary(
        subscription.billing_cycle_anchor,
        price.recurring_interval,
        price.recurring_interval_count or 1,
        start,
    )
    return start, end


def status_after_renewal(status: str, *, paid: bool) -> str:
    """A renewal's invoice paid ends a trial or a past due; unpaid, it makes an active or
    trialing subscription past due."""
    if paid:
        if status in (SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE):
            return SubscriptionStatus.ACTIVE
    elif status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        return SubscriptionStatus.PAST_DUE
    return status


@contextmanager
def recording_update(session: Session, subscription: Subscription, *, now: int) -> Iterator[None]:
    """Run a change and record it as ONE `customer.subscription.updated` (if anything changed).

    Every field a change touches (cancellation and its reason included) is in the same event,
    with `previous_attributes` holding the old values. The subscription is serialized once, after
    the change (`tenure.subscriptions.changes`).
    """
    before = SubscriptionBefore.of(session, subscription)
    yield
    refresh_next_action(session, subscription)
    session.flush()
    after, previous = serialize_change(session, subscription, before)
    record_event(session, type="customer.subscription.updated", obj=after, now=now, previous=previous)


def record_subscription_event(
    session: Session, subscription: Subscription, event_type: str, *, now: int
) -> None:
    record_event(session, type=event_type, obj=serialize_subscription(session, subscription), now=now)


def resolve_discounts(
    session: Session,
    *,
    coupon: str | None,
    promotion_code: str | None,
    discounts: list[DiscountParams] | None,
    customer_id: str,
    now: int,
) -> list[tuple[Coupon, str | None]]:
    """Validate the coupons / promotion codes a request names; [(coupon, promotion_code_id)]."""
    requested: list[tuple[str | None, str | None, str]] = []
    if coupon:
        requested.append((coupon, None, "coupon"))
    if promotion_code:
        requested.append((None, promotion_code, "promotion_code"))
    for index, entry in enumerate(discounts or []):
        if entry.coupon:
            requested.append((entry.coupon, None, f"discounts[{index}][coupon]"))
        elif entry.promotion_code:
            requested.append((None, entry.promotion_code, f"discounts[{index}][promotion_code]"))
        else:
            raise InvalidRequest(
                "Each discount needs a coupon or a promotion_code.", param=f"discounts[{index}]"
            )
    resolved: list[tuple[Coupon, str | None]] = []
    for coupon_id, code_id, param in requested:
        promo_id = None
        if code_id is not None:
            promo = _promotion_code(session, code_id, param=param, now=now, customer_id=customer_id)
            coupon_id, promo_id = promo.coupon_id, promo.id
        assert coupon_id is not None
        found = get_coupon(session, coupon_id, param=param)
        if any(c.id == found.id for c, _ in resolved):
            raise InvalidRequest(f"Coupon {found.id} is applied twice.", param=param)
        resolved.append((found, promo_id))
    if len(resolved) > 20:
        raise InvalidRequest("At most 20 discounts can be applied.", param="discounts")
    return resolved


def _promotion_code(session: Session, code_id: str, *, param: str, now: int, customer_id: str) -> Any:
    from tenure.coupons.models import PromotionCode

    promo = session.scalar(select(PromotionCode).where(PromotionCode.id == code_id))
    if promo is None:
        promo = find_active_code(session, code_id, now)
    if promo is None:
        raise InvalidRequest(f"No such promotion code: '{code_id}'", param=param, code="resource_missing")
    if not promo.active or (promo.expires_at is not None and promo.expires_at <= now):
        raise InvalidRequest(f"Promotion code {promo.code} is inactive or expired.", param=param)
    if promo.max_redemptions is not None and promo.times_redeemed >= promo.max_redemptions:
        raise InvalidRequest(f"Promotion code {promo.code} has been used up.", param=param)
    if promo.customer_id is not None and promo.customer_id != customer_id:
        raise InvalidRequest(f"Promotion code {promo.code} is for another customer.", param=param)
    return promo


def apply_discounts(
    session: Session, subscription: Subscription, resolved: list[tuple[Coupon, str | None]], *, now: int
) -> None:
    """Attach the discounts (redeeming their coupons and codes)."""
    from tenure.coupons.models import PromotionCode

    for coupon, promo_id in resolved:
        promo = (
            session.scalar(select(PromotionCode).where(PromotionCode.id == promo_id)) if promo_id else None
        )
        if promo is not None:
            redeem_promotion_code(session, promo, now)  # counts the code and its coupon
        else:
            redeem(session, coupon, now)
        end = add_months(now, coupon.duration_in_months or 0) if coupon.duration == "repeating" else None
        session.add(
            Discount(
                id=new_id("di"),
                coupon_id=coupon.id,
                promotion_code_id=promo_id,
                customer_id=subscription.customer_id,
                subscription_id=subscription.id,
                start=now,
                end=end,
            )
        )
    session.flush()


def remove_discounts(session: Session, subscription: Subscription, *, now: int) -> None:
    for discount in session.scalars(
        select(Discount).where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
    ):
        discount.removed_at = now
    session.flush()


def has_active_discount(session: Session, subscription: Subscription, at: int) -> bool:
    return any(
        d.start <= at and (d.end is None or at < d.end)
        for d in session.scalars(
            select(Discount).where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
        )
    )
