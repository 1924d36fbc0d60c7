"""How an offer reads to the customer (the template words it in their language)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.coupons.models import Coupon
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.models import Subscription


@dataclass(frozen=True)
class OfferView:
    type: str
    percent_off: float | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration: str | None = None
    duration_in_months: int | None = None
    pause_months: int | None = None
    plan: str | None = None
    unit_amount: int | None = None
    interval: str | None = None
    trial_days: int | None = None
    url: str | None = None


def describe(session: Session, offer: dict[str, Any], subscription: Subscription) -> OfferView:
    kind = str(offer.get("type"))
    if kind == "coupon":
        coupon = session.scalar(select(Coupon).where(Coupon.id == offer.get("coupon")))
        if coupon is None:
            return OfferView(type="coupon")
        return OfferView(
            type="coupon",
            percent_off=float(coupon.percent_off) if coupon.percent_off is not None else None,
            amount_off=coupon.amount_off,
            currency=coupon.currency or subscription.currency,
            duration=coupon.duration,
            duration_in_months=coupon.duration_in_months,
        )
    if kind == "switch_price":
        price = session.scalar(select(Price).where(Price.id == offer.get("price")))
        if price is None:
            return OfferView(type=kind)
        product = session.scalar(select(Product).where(Product.id == price.product_id))
        return OfferView(
            type=kind,
            plan=price.nickname or (product.name if product else price.id),
            unit_amount=price.unit_amount,
            currency=price.currency,
            interval=price.recurring_interval,
        )
    return OfferView(
        type=kind,
        pause_months=offer.get("pause_months"),
        trial_days=offer.get("trial_days"),
        url=offer.get("url"),
    )
