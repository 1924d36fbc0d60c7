from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenure.db.base import Base, StripeObject, WithMetadata


class Duration(StrEnum):
    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


class Coupon(StripeObject, WithMetadata, Base):
    __tablename__ = "coupons"

    name: Mapped[str | None] = mapped_column(String(40))
    percent_off: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    amount_off: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(10))
    duration_in_months: Mapped[int | None] = mapped_column(Integer)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    redeem_by: Mapped[int | None] = mapped_column(BigInteger)
    times_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    # Deleting a coupon only stops new redemptions: discounts already granted keep pointing at it.
    deleted: Mapped[bool] = mapped_column(default=False)

    def is_valid(self, now: int) -> bool:
        return coupon_is_valid(self, now)


def coupon_is_valid(coupon: Coupon, now: int) -> bool:
    """Whether `coupon` can still be redeemed at `now` (Stripe's `valid`)."""
    if coupon.deleted:
        return False
    if coupon.redeem_by is not None and now > coupon.redeem_by:
        return False
    return coupon.max_redemptions is None or coupon.times_redeemed < coupon.max_redemptions


class PromotionCode(StripeObject, WithMetadata, Base):
    __tablename__ = "promotion_codes"
    __table_args__ = (
        # Codes are matched regardless of case, and an active code names one promotion at a time.
        Index(
            "ix_promotion_codes_active_code",
            "normalized_code",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    code: Mapped[str] = mapped_column(String(500))
    normalized_code: Mapped[str] = mapped_column(String(500))
    coupon_id: Mapped[str] = mapped_column(String(64), ForeignKey("coupons.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # A plain id for now: customers live in their own package and may not exist in this schema yet.
    customer_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    times_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    restrictions_first_time_transaction: Mapped[bool] = mapped_column(default=False)
    restrictions_minimum_amount: Mapped[int | None] = mapped_column(BigInteger)
    restrictions_minimum_amount_currency: Mapped[str | None] = mapped_column(String(3))
    # `{"eur": {"minimum_amount": 1000}}`: minimums in currencies other than the main one.
    restrictions_currency_options: Mapped[dict[str, Any]] = mapped_column(default=dict)

    coupon: Mapped[Coupon] = relationship(lazy="joined", innerjoin=True)

    def is_usable(self, now: int) -> bool:
        return promotion_code_is_usable(self, now)


def normalize_code(code: str) -> str:
    return code.upper()


def promotion_code_is_usable(promotion_code: PromotionCode, now: int) -> bool:
    """Whether a customer could redeem this code at `now` (before customer-specific restrictions)."""
    if not promotion_code.active:
        return False
    if promotion_code.expires_at is not None and now > promotion_code.expires_at:
        return False
    if (
        promotion_code.max_redemptions is not None
        and promotion_code.times_redeemed >= promotion_code.max_redemptions
    ):
        return False
    return coupon_is_valid(promotion_code.coupon, now)
