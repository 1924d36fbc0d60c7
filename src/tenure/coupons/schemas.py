from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.clock import SystemClock
from tenure.coupons.models import Coupon, PromotionCode, coupon_is_valid
from tenure.prices.fields import Amount, Count, CreatedFilter, Currency, CustomId, PositiveAmount, Timestamp


def _code(value: str) -> str:
    if not value or not all(c.isascii() and (c.isalnum() or c == "-") for c in value):
        raise ValueError(
            f"Invalid code: {value!r}. Codes may contain letters (a-z, A-Z), digits (0-9) and hyphens."
        )
    return value


Code = Annotated[str, Field(max_length=500), AfterValidator(_code)]


class CouponCreate(Params):
    id: CustomId | None = None
    name: str | None = Field(default=None, max_length=40)
    percent_off: Decimal | None = Field(default=None, gt=0, le=100, decimal_places=4)
    amount_off: PositiveAmount | None = None
    currency: Currency | None = None
    duration: Literal["once", "repeating", "forever"] | None = None
    duration_in_months: int | None = Field(default=None, ge=1, le=1200)
    max_redemptions: Count | None = None
    redeem_by: Timestamp | None = None
    metadata: Any = None


class CouponUpdate(Params):
    name: str | None = Field(default=None, max_length=40)
    metadata: Any = None


class CouponList(ListParams):
    created: CreatedFilter | None = None


class Promotion(Params):
    type: Literal["coupon"]
    coupon: str | None = None


class CurrencyOption(Params):
    minimum_amount: Amount | None = None


class RestrictionsCreate(Params):
    first_time_transaction: bool | None = None
    minimum_amount: Amount | None = None
    minimum_amount_currency: Currency | None = None
    currency_options: dict[Currency, CurrencyOption] | None = None


class RestrictionsUpdate(Params):
    currency_options: dict[Currency, CurrencyOption] | None = None


class PromotionCodeCreate(Params):
    promotion: Promotion | None = None
    coupon: str | None = None  # the pre-2025 way to name the coupon, still sent by older SDKs
    code: Code | None = None
    active: bool | None = None
    customer: str | None = Field(default=None, max_length=64)
    expires_at: Timestamp | None = None
    max_redemptions: Count | None = None
    restrictions: RestrictionsCreate | None = None
    metadata: Any = None


class PromotionCodeUpdate(Params):
    active: bool | None = None
    restrictions: RestrictionsUpdate | None = None
    metadata: Any = None


class PromotionCodeList(ListParams):
    active: bool | None = None
    code: str | None = None
    coupon: str | None = None
    customer: str | None = None
    created: CreatedFilter | None = None


def serialize_coupon(coupon: Coupon, now: int | None = None) -> dict[str, Any]:
    """Stripe's coupon. `valid` depends on the time: pass the request's `now` where there is one."""
    moment = SystemClock().now() if now is None else now
    return {
        "id": coupon.id,
        "object": "coupon",
        "amount_off": coupon.amount_off,
        "created": coupon.created,
        "currency": coupon.currency,
        "duration": coupon.duration,
        "duration_in_months": coupon.duration_in_months,
        "livemode": coupon.livemode,
        "max_redemptions": coupon.max_redemptions,
        "metadata": dict(coupon.metadata_ or {}),
        "name": coupon.name,
        "percent_off": None if coupon.percent_off is None else float(coupon.percent_off),
        "redeem_by": coupon.redeem_by,
        "times_redeemed": coupon.times_redeemed,
        "valid": coupon_is_valid(coupon, moment),
    }


def serialize_promotion_code(promotion_code: PromotionCode, now: int | None = None) -> dict[str, Any]:
    """Today's shape (`promotion.coupon`) plus the full `coupon` older API versions return."""
    restrictions: dict[str, Any] = {
        "first_time_transaction": promotion_code.restrictions_first_time_transaction,
        "minimum_amount": promotion_code.restrictions_minimum_amount,
        "minimum_amount_currency": promotion_code.restrictions_minimum_amount_currency,
    }
    if promotion_code.restrictions_currency_options:
        restrictions["currency_options"] = dict(promotion_code.restrictions_currency_options)
    return {
        "id": promotion_code.id,
        "object": "promotion_code",
        "active": promotion_code.active,
        "code": promotion_code.code,
        "coupon": serialize_coupon(promotion_code.coupon, now),
        "created": promotion_code.created,
        "customer": promotion_code.customer_id,
        "customer_account": None,
        "expires_at": promotion_code.expires_at,
        "livemode": promotion_code.livemode,
        "max_redemptions": promotion_code.max_redemptions,
        "metadata": dict(promotion_code.metadata_ or {}),
        "promotion": {"coupon": promotion_code.coupon_id, "type": "coupon"},
        "restrictions": restrictions,
        "times_redeemed": promotion_code.times_redeemed,
    }
