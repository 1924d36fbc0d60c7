from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.lists import ListParams, RangeFilter
from tenure.api.params import FilterTimestamp, Params, Timestamp
from tenure.prices.models import Price
from tenure.prices.schemas import serialize_price
from tenure.subscriptions.models import Discount, Feedback, Subscription

ProrationBehavior = Literal["create_prorations", "none", "always_invoice"]
PaymentBehavior = Literal[
    "allow_incomplete", "error_if_incomplete", "default_incomplete", "pending_if_incomplete"
]


class ItemParams(Params):
    id: str | None = None
    price: str | None = None
    quantity: int | None = Field(default=None, ge=0, le=10_000_000)
    deleted: bool | None = None
    clear_usage: bool | None = None
    metadata: Any = None


class CancellationDetailsParams(Params):
    comment: str | None = Field(default=None, max_length=500)
    feedback: Feedback | None = None


class DiscountParams(Params):
    coupon: str | None = None
    promotion_code: str | None = None
    discount: str | None = None


class PauseCollectionParams(Params):
    behavior: Literal["keep_as_draft", "mark_uncollectible", "void"]
    resumes_at: Timestamp | None = None


class SubscriptionCreate(Params):
    customer: str
    items: list[ItemParams] = Field(min_length=1, max_length=20)
    default_payment_method: str | None = None
    trial_period_days: int | None = Field(default=None, ge=0, le=730)
    trial_end: Timestamp | Literal["now"] | None = None
    trial_from_plan: bool | None = None
    coupon: str | None = None
    promotion_code: str | None = None
    discounts: list[DiscountParams] | None = None
    billing_cycle_anchor: Timestamp | None = None
    proration_behavior: ProrationBehavior | None = None
    payment_behavior: PaymentBehavior = "allow_incomplete"
    cancel_at_period_end: bool | None = None
    cancel_at: Timestamp | None = None
    collection_method: Literal["charge_automatically"] | None = None
    description: str | None = Field(default=None, max_length=500)
    off_session: bool | None = None
    metadata: Any = None
    currency: str | None = None


class SubscriptionUpdate(Params):
    items: list[ItemParams] | None = Field(default=None, max_length=20)
    cancel_at_period_end: bool | None = None
    cancel_at: Timestamp | None = None
    cancellation_details: CancellationDetailsParams | None = None
    proration_behavior: ProrationBehavior = "create_prorations"
    proration_date: Timestamp | None = None
    payment_behavior: PaymentBehavior = "allow_incomplete"
    default_payment_method: str | None = None
    coupon: str | None = None
    promotion_code: str | None = None
    discounts: list[DiscountParams] | Literal[""] | None = None
    pause_collection: PauseCollectionParams | Literal[""] | None = None
    trial_end: Timestamp | Literal["now"] | None = None
    description: str | None = Field(default=None, max_length=500)
    off_session: bool | None = None
    metadata: Any = None


class SubscriptionCancel(Params):
    cancellation_details: CancellationDetailsParams | None = None
    invoice_now: bool = False
    prorate: bool = False


class SubscriptionResume(Params):
    billing_cycle_anchor: Literal["now", "unchanged"] = "now"
    proration_behavior: ProrationBehavior = "create_prorations"
    proration_date: Timestamp | None = None


class SubscriptionList(ListParams):
    customer: str | None = None
    price: str | None = None
    status: (
        Literal[
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ]
        | None
    ) = None
    created: FilterTimestamp | RangeFilter | None = None
    current_period_end: FilterTimestamp | RangeFilter | None = None
    current_period_start: FilterTimestamp | RangeFilter | None = None
    test_clock: str | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None


def serialize_discount(discount: Discount) -> dict[str, Any]:
    return {
        "id": discount.id,
        "object": "discount",
        "checkout_session": None,
        "customer": discount.customer_id,
        "end": discount.end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": discount.promotion_code_id,
        "source": {"coupon": discount.coupon_id, "type": "coupon"},
        "start": discount.start,
        "subscription": discount.subscription_id,
        "subscription_item": None,
    }


def _plan(price: Price) -> dict[str, Any]:
    return {
        "id": price.id,
        "object": "plan",
        "active": price.active,
        "amount": price.unit_amount,
        "amount_decimal": str(price.unit_amount),
        "billing_scheme": "per_unit",
        "created": price.created,
        "currency": price.currency,
        "interval": price.recurring_interval,
        "interval_count": price.recurring_interval_count,
        "livemode": price.livemode,
        "metadata": dict(price.metadata_ or {}),
        "meter": None,
        "nickname": price.nickname,
        "product": price.product_id,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": price.recurring_trial_period_days,
        "usage_type": "licensed",
    }


class ItemFields(Protocol):
    """What an item's serialization reads: a loaded `SubscriptionItem` or a batch row."""

    @property
    def id(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def metadata_(self) -> dict[str, Any]: ...
    @property
    def price_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...


class SubscriptionFields(Protocol):
    """What a subscription's serialization reads: a loaded `Subscription` with its items, or a
    batch row (the billing run's set-based renewals)."""

    @property
    def id(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def livemode(self) -> bool: ...
    @property
    def metadata_(self) -> dict[str, Any]: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def billing_cycle_anchor(self) -> int: ...
    @property
    def start_date(self) -> int: ...
    @property
    def current_period_start(self) -> int: ...
    @property
    def current_period_end(self) -> int: ...
    @property
    def cancel_at_period_end(self) -> bool: ...
    @property
    def cancel_at(self) -> int | None: ...
    @property
    def canceled_at(self) -> int | None: ...
    @property
    def ended_at(self) -> int | None: ...
    @property
    def cancellation_details(self) -> dict[str, Any]: ...
    @property
    def trial_start(self) -> int | None: ...
    @property
    def trial_end(self) -> int | None: ...
    @property
    def default_payment_method_id(self) -> str | None: ...
    @property
    def latest_invoice_id(self) -> str | None: ...
    @property
    def pause_collection(self) -> dict[str, Any] | None: ...
    @property
    def test_clock_id(self) -> str | None: ...
    @property
    def items(self) -> Sequence[ItemFields]: ...


class PeriodFields(Protocol):
    """What an item's serialization reads of its subscription."""

    @property
    def id(self) -> str: ...
    @property
    def current_period_start(self) -> int: ...
    @property
    def current_period_end(self) -> int: ...


def serialize_item(item: ItemFields, price: Price, subscription: PeriodFields) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "subscription_item",
        "created": item.created,
        "current_period_end": subscription.current_period_end,
        "current_period_start": subscription.current_period_start,
        "discounts": [],
        "metadata": dict(item.metadata_ or {}),
        "plan": _plan(price),
        "price": serialize_price(price),
        "quantity": item.quantity,
        "subscription": subscription.id,
        "tax_rates": [],
    }


def serialize_subscription(session: Session, subscription: Subscription) -> dict[str, Any]:
    """The subscription as the API returns it, reading its prices and discounts."""
    price_ids = [item.price_id for item in subscription.items]
    prices = (
        {p.id: p for p in session.scalars(select(Price).where(Price.id.in_(price_ids)))} if price_ids else {}
    )
    return subscription_payload(
        subscription, prices=prices, discount_ids=active_discount_ids(session, subscription)
    )


def active_discount_ids(session: Session, subscription: Subscription) -> list[str]:
    """The ids of the subscription's discounts in force, oldest first, as its API object lists them."""
    return list(
        session.scalars(
            select(Discount.id)
            .where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
            .order_by(Discount.pk)
        )
    )


def subscription_payload(
    subscription: SubscriptionFields, *, prices: Mapping[str, Price], discount_ids: Sequence[str]
) -> dict[str, Any]:
    """The serialization of a loaded subscription, its items' `prices` and its discounts' ids
    (oldest first): no queries, so a batch can serialize many from what it read at once."""
    items = [serialize_item(item, prices[item.price_id], subscription) for item in subscription.items]
    return {
        "id": subscription.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "disabled_reason": None, "liability": None},
        "billing_cycle_anchor": subscription.billing_cycle_anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"},
        "cancel_at": subscription.cancel_at,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "canceled_at": subscription.canceled_at,
        "cancellation_details": dict(subscription.cancellation_details),
        "collection_method": "charge_automatically",
        "created": subscription.created,
        "currency": subscription.currency,
        "customer": subscription.customer_id,
        "days_until_due": None,
        "default_payment_method": subscription.default_payment_method_id,
        "default_source": None,
        "default_tax_rates": [],
        "description": subscription.description,
        "discounts": list(discount_ids),
        "ended_at": subscription.ended_at,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={subscription.id}",
        },
        "latest_invoice": subscription.latest_invoice_id,
        "livemode": subscription.livemode,
        "metadata": dict(subscription.metadata_ or {}),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": dict(subscription.pause_collection) if subscription.pause_collection else None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": subscription.start_date,
        "status": subscription.status,
        "test_clock": subscription.test_clock_id,
        "transfer_data": None,
        "trial_end": subscription.trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": subscription.trial_start,
    }
