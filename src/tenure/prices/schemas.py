from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.prices.fields import (
    Amount,
    CreatedFilter,
    Currency,
    CustomId,
    Interval,
    IntervalCount,
    cannot_be_blank,
)
from tenure.prices.models import Price

LookupKey = Field(default=None, max_length=200)


class PriceRecurring(Params):
    interval: Interval
    interval_count: IntervalCount | None = None
    trial_period_days: int | None = Field(default=None, ge=0, le=730)
    usage_type: Literal["licensed"] | None = None


class ProductData(Params):
    """`product_data`: a product created together with the price."""

    name: str
    id: CustomId | None = None
    active: bool | None = None
    unit_label: str | None = Field(default=None, max_length=12)
    metadata: Any = None

    _name_not_blank = field_validator("name", mode="before")(cannot_be_blank)


class PriceCreate(Params):
    currency: Currency
    unit_amount: Amount
    product: str | None = None
    product_data: ProductData | None = None
    recurring: PriceRecurring | None = None
    active: bool | None = None
    billing_scheme: Literal["per_unit"] | None = None
    lookup_key: str | None = LookupKey
    transfer_lookup_key: bool | None = None
    nickname: str | None = None
    metadata: Any = None


class PriceUpdate(Params):
    active: bool | None = None
    lookup_key: str | None = LookupKey
    transfer_lookup_key: bool | None = None
    nickname: str | None = None
    metadata: Any = None

    _active_not_blank = field_validator("active", mode="before")(cannot_be_blank)


class PriceListRecurring(Params):
    interval: Interval | None = None
    usage_type: Literal["licensed", "metered"] | None = None


class PriceList(ListParams):
    active: bool | None = None
    product: str | None = None
    currency: Currency | None = None
    type: Literal["one_time", "recurring"] | None = None
    lookup_keys: list[str] | None = Field(default=None, max_length=10)
    recurring: PriceListRecurring | None = None
    created: CreatedFilter | None = None


def serialize_price(price: Price) -> dict[str, Any]:
    recurring: dict[str, Any] | None = None
    if price.is_recurring:
        recurring = {
            "interval": price.recurring_interval,
            "interval_count": price.recurring_interval_count,
            "meter": None,
            "trial_period_days": price.recurring_trial_period_days,
            "usage_type": "licensed",
        }
    return {
        "id": price.id,
        "object": "price",
        "active": price.active,
        "billing_scheme": "per_unit",
        "created": price.created,
        "currency": price.currency,
        "custom_unit_amount": None,
        "livemode": price.livemode,
        "lookup_key": price.lookup_key,
        "metadata": dict(price.metadata_ or {}),
        "nickname": price.nickname,
        "product": price.product_id,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": price.type,
        "unit_amount": price.unit_amount,
        "unit_amount_decimal": str(price.unit_amount),
    }
