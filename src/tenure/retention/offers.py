"""Which retention offer (if any) a cancel flow shows, and whether the subscription may get one.

Rules: at most one offer per flow; none unless the subscription is active or trialing and not
scheduled to cancel; none when a discount is active on it; none when an offer was accepted on it
within the cooldown (90 days by default). The same rule (`ineligibility`) decides when the offer is
shown and again, under the subscription's row lock, when it is accepted: another window may have
canceled or accepted an offer in between. The offer comes from the deep link's
`retention.coupon_offer` if any, else the offer configured for the chosen reason (or for any
reason, `*`), else the configuration's default retention coupon.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.coupons.models import Coupon, coupon_is_valid
from tenure.prices.models import Price
from tenure.retention.models import CancellationFlow, OfferResponse
from tenure.subscriptions.common import has_active_discount
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.periods import DAY

DEFAULT_COOLDOWN_DAYS = 90
OFFER_TYPES = ("coupon", "pause", "switch_price", "extend_trial", "contact")


@dataclass(frozen=True)
class Offer:
    type: str
    coupon: Coupon | None = None
    pause_months: int | None = None
    price: Price | None = None
    trial_days: int | None = None
    url: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "coupon": self.coupon.id if self.coupon else None,
            "pause_months": self.pause_months,
            "price": self.price.id if self.price else None,
            "trial_days": self.trial_days,
            "url": self.url,
        }


def accepted_recently(session: Session, subscription: Subscription, *, now: int, cooldown_days: int) -> bool:
    since = now - cooldown_days * DAY
    return (
        session.scalar(
            select(CancellationFlow.pk).where(
                CancellationFlow.subscription_id == subscription.id,
                CancellationFlow.offer_response == OfferResponse.ACCEPTED,
                CancellationFlow.offer_responded_at >= since,
            )
        )
        is not None
    )


class Ineligible(StrEnum):
    """Why a subscription may not get a retention offer (the customer is told which)."""

    NOT_ACTIVE = "not_active"  # canceled, past due, incomplete…: only active or trialing ones
    CANCELING = "canceling"  # a cancellation is already scheduled
    DISCOUNTED = "discounted"  # a discount is active
    COOLDOWN = "cooldown"  # an offer was accepted within the cooldown


def configured_cooldown(retention: dict[str, Any]) -> int:
    """The configuration's cooldown between two accepted offers (`tenure_retention.cooldown_days`)."""
    return int(retention.get("cooldown_days") or DEFAULT_COOLDOWN_DAYS)


def ineligibility(
    session: Session, subscription: Subscription, *, now: int, cooldown_days: int
) -> Ineligible | None:
    """Why the subscription may not get an offer now, or None when it may."""
    if subscription.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        return Ineligible.NOT_ACTIVE
    if subscription.cancel_at_period_end or subscription.cancel_at is not None:
        return Ineligible.CANCELING
    if has_active_discount(session, subscription, now):
        return Ineligible.DISCOUNTED
    if accepted_recently(session, subscription, now=now, cooldown_days=cooldown_days):
        return Ineligible.COOLDOWN
    return None


def eligible(session: Session, subscription: Subscription, *, now: int, cooldown_days: int) -> bool:
    return ineligibility(session, subscription, now=now, cooldown_days=cooldown_days) is None


def _coupon(session: Session, coupon_id: str | None, now: int) -> Coupon | None:
    if not coupon_id:
        return None
    coupon = session.scalar(select(Coupon).where(Coupon.id == coupon_id))
    return coupon if coupon is not None and coupon_is_valid(coupon, now) else None


def _from_config(
    session: Session, subscription: Subscription, config: dict[str, Any], now: int
) -> Offer | None:
    kind = config.get("type")
    if kind == "coupon":
        coupon = _coupon(session, config.get("coupon"), now)
        return Offer("coupon", coupon=coupon) if coupon else None
    if kind == "pause":
        months = int(config.get("pause_months") or 1)
        return Offer("pause", pause_months=max(1, min(months, 12)))
    if kind == "switch_price":
        price = session.scalar(select(Price).where(Price.id == config.get("price")))
        return (
            Offer("switch_price", price=price)
            if price and _cheaper_switch(session, subscription, price)
            else None
        )
    if kind == "extend_trial":
        days = int(config.get("trial_days") or 0)
        if subscription.status == SubscriptionStatus.TRIALING and days > 0:
            return Offer("extend_trial", trial_days=min(days, 365))
        return None
    if kind == "contact" and config.get("url"):
        return Offer("contact", url=str(config["url"]))
    return None


def _cheaper_switch(session: Session, subscription: Subscription, price: Price) -> bool:
    """A switch offer only makes sense to an active, cheaper price of the same currency and interval."""
    if len(subscription.items) != 1 or not price.active or price.currency != subscription.currency:
        return False
    item: SubscriptionItem = subscription.items[0]
    current = session.scalar(select(Price).where(Price.id == item.price_id))
    if current is None or current.id == price.id:
        return False
    same_interval = (current.recurring_interval, current.recurring_interval_count) == (
        price.recurring_interval,
        price.recurring_interval_count,
    )
    return same_interval and price.unit_amount < current.unit_amount


def choose_offer(
    session: Session,
    subscription: Subscription,
    *,
    retention: dict[str, Any],
    deep_link_coupon: str | None,
    reason_code: str | None,
    feedback: str | None,
    now: int,
) -> Offer | None:
    """The one offer to show, or None (not eligible, or nothing configured)."""
    if not eligible(session, subscription, now=now, cooldown_days=configured_cooldown(retention)):
        return None
    if deep_link_coupon:
        coupon = _coupon(session, deep_link_coupon, now)
        if coupon is not None:
            return Offer("coupon", coupon=coupon)
    offers: dict[str, Any] = retention.get("offers") or {}
    for key in (reason_code, feedback, "*"):
        if key and key in offers:
            offer = _from_config(session, subscription, offers[key], now)
            if offer is not None:
                return offer
    coupon = _coupon(session, retention.get("coupon"), now)
    return Offer("coupon", coupon=coupon) if coupon else None
