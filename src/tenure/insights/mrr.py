"""Monthly recurring revenue, the one definition every figure uses (docs/insights.md).

A subscription's MRR is its recurring amount normalised to a month (yearly ÷ 12, weekly × 52 ÷ 12,
daily × 365 ÷ 12, every N intervals ÷ N), after the discounts active at that moment: percentages
off the amount, fixed amounts off each invoice (normalised the same way), never below zero.
"""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure import money
from tenure.coupons.models import Coupon
from tenure.prices.models import Price
from tenure.subscriptions.models import Discount, Subscription
from tenure.subscriptions.periods import monthly_factor


def subscription_mrr(session: Session, subscription: Subscription, *, at: int) -> int:
    """The subscription's MRR in minor units of its currency at `at`, after discounts."""
    per_period = Fraction(0)
    factor = Fraction(1)
    for item in subscription.items:
        price = session.scalar(select(Price).where(Price.id == item.price_id))
        if price is None or price.recurring_interval is None:
            continue
        numerator, denominator = monthly_factor(price.recurring_interval, price.recurring_interval_count or 1)
        factor = Fraction(numerator, denominator)
        per_period += price.unit_amount * item.quantity
    discounts = session.execute(
        select(Discount, Coupon)
        .join(Coupon, Coupon.id == Discount.coupon_id)
        .where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
    ).all()
    for discount, coupon in discounts:
        if not (discount.start <= at and (discount.end is None or at < discount.end)):
            continue
        if coupon.percent_off is not None:
            per_period -= per_period * Fraction(str(coupon.percent_off)) / 100
        elif coupon.amount_off is not None and coupon.currency == subscription.currency:
            per_period -= coupon.amount_off
    return money.round_minor(max(per_period, Fraction(0)) * factor)
