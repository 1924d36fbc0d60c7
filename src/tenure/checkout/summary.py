"""What the customer is about to buy: the lines, the trial, the discount, the first payment.

The arithmetic mirrors invoicing: a coupon is spread over the lines as `tenure.invoices` does,
`once` and `forever` coupons take their share off the first non-zero payment (after any trial),
a `repeating` one only if that payment falls within its months.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.checkout.models import CheckoutSession
from tenure.coupons.models import Coupon, PromotionCode
from tenure.coupons.service import discount_amount
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.periods import DAY, add_months


@dataclass(frozen=True)
class SummaryLine:
    name: str
    quantity: int
    unit_amount: int

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True)
class SummaryDiscount:
    label: str  # the promotion code the customer typed, else the coupon's name or id
    percent_off: float | None
    amount_off: int | None
    duration: str
    duration_in_months: int | None
    amount: int  # taken off the first payment


@dataclass(frozen=True)
class CheckoutSummary:
    lines: list[SummaryLine]
    currency: str
    interval: str
    interval_count: int
    trial_end: int | None
    trial_days: int | None
    discount: SummaryDiscount | None
    first_payment_at: int
    first_payment_amount: int

    @property
    def recurring_amount(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def due_today(self) -> int:
        return 0 if self.trial_end is not None else self.first_payment_amount

    @property
    def discount_today(self) -> int:
        return 0 if self.trial_end is not None or self.discount is None else self.discount.amount

    @property
    def subtotal_today(self) -> int:
        return 0 if self.trial_end is not None else self.recurring_amount


def spread_discount(coupon: Coupon, amounts: list[int], currency: str) -> int:
    """What `coupon` takes off lines of these amounts, line by line as an invoice applies it."""
    taken = 0
    for amount in amounts:
        share = discount_amount(coupon, amount, currency)
        if coupon.amount_off is not None:
            share = min(share, coupon.amount_off - taken)
        taken += max(share, 0)
    return taken


def applies_at(coupon: Coupon, *, applied_at: int, payment_at: int) -> bool:
    """Whether a discount applied at `applied_at` still counts on a payment at `payment_at`."""
    if coupon.duration == "repeating":
        return payment_at < add_months(applied_at, coupon.duration_in_months or 0)
    return True


def trial_end_for(subscription_data: dict[str, object], now: int) -> int | None:
    """When the trial a completion at `now` would give ends (None: no trial)."""
    trial_end = subscription_data.get("trial_end")
    if isinstance(trial_end, int):
        return trial_end
    days = subscription_data.get("trial_period_days")
    return now + days * DAY if isinstance(days, int) and days > 0 else None


def coupon_of(session: Session, checkout: CheckoutSession, promotion: PromotionCode | None) -> Coupon | None:
    if promotion is not None:
        return promotion.coupon
    for entry in checkout.discounts or []:
        if entry.get("coupon"):
            return session.scalar(select(Coupon).where(Coupon.id == entry["coupon"]))
        if entry.get("promotion_code"):
            promo = session.scalar(select(PromotionCode).where(PromotionCode.id == entry["promotion_code"]))
            return promo.coupon if promo else None
    return None


def summarize(
    session: Session, checkout: CheckoutSession, *, now: int, promotion: PromotionCode | None = None
) -> CheckoutSummary:
    """The summary of `checkout` if completed at `now`, with the discount of `promotion` if given."""
    lines: list[SummaryLine] = []
    interval, interval_count = "month", 1
    for entry in checkout.line_items:
        price = session.scalar(select(Price).where(Price.id == entry["price"]))
        if price is None:
            continue
        product = session.scalar(select(Product).where(Product.id == price.product_id))
        name = product.name if product else price.nickname or price.id
        lines.append(SummaryLine(name=name, quantity=int(entry["quantity"]), unit_amount=price.unit_amount))
        interval = price.recurring_interval or "month"
        interval_count = price.recurring_interval_count or 1
    trial_end = trial_end_for(checkout.subscription_data or {}, now)
    first_payment_at = trial_end if trial_end is not None else now
    amounts = [line.amount for line in lines]
    discount = None
    coupon = coupon_of(session, checkout, promotion)
    if coupon is not None:
        taken = (
            spread_discount(coupon, amounts, checkout.currency)
            if applies_at(coupon, applied_at=now, payment_at=first_payment_at)
            else 0
        )
        discount = SummaryDiscount(
            label=promotion.code if promotion is not None else (coupon.name or coupon.id),
            percent_off=float(coupon.percent_off) if coupon.percent_off is not None else None,
            amount_off=coupon.amount_off,
            duration=coupon.duration,
            duration_in_months=coupon.duration_in_months,
            amount=taken,
        )
    return CheckoutSummary(
        lines=lines,
        currency=checkout.currency,
        interval=interval,
        interval_count=interval_count,
        trial_end=trial_end,
        trial_days=(trial_end - now + DAY - 1) // DAY if trial_end is not None else None,
        discount=discount,
        first_payment_at=first_payment_at,
        first_payment_amount=sum(amounts) - (discount.amount if discount else 0),
    )
