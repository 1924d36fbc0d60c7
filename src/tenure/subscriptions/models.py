from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenure.db.base import Base, JSONType, PkType, StripeObject, WithMetadata


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    PAUSED = "paused"


class CancellationReason(StrEnum):
    """`cancellation_details.reason`: why Stripe (here: Tenure) canceled."""

    CANCELLATION_REQUESTED = "cancellation_requested"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_DISPUTED = "payment_disputed"


class Feedback(StrEnum):
    """`cancellation_details.feedback`: the customer's own reason (the 8 standard codes)."""

    TOO_EXPENSIVE = "too_expensive"
    MISSING_FEATURES = "missing_features"
    SWITCHED_SERVICE = "switched_service"
    UNUSED = "unused"
    CUSTOMER_SERVICE = "customer_service"
    TOO_COMPLEX = "too_complex"
    LOW_QUALITY = "low_quality"
    OTHER = "other"


LIVE_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.INCOMPLETE,
    SubscriptionStatus.PAUSED,
)


def empty_cancellation_details() -> dict[str, Any]:
    return {"comment": None, "feedback": None, "reason": None}


class Subscription(StripeObject, WithMetadata, Base):
    __tablename__ = "subscriptions"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))
    billing_cycle_anchor: Mapped[int] = mapped_column(BigInteger)
    start_date: Mapped[int] = mapped_column(BigInteger)
    current_period_start: Mapped[int] = mapped_column(BigInteger)
    current_period_end: Mapped[int] = mapped_column(BigInteger, index=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    cancel_at: Mapped[int | None] = mapped_column(BigInteger)
    canceled_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    cancellation_details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=empty_cancellation_details)
    trial_start: Mapped[int | None] = mapped_column(BigInteger)
    trial_end: Mapped[int | None] = mapped_column(BigInteger)
    trial_will_end_sent: Mapped[bool] = mapped_column(default=False)
    default_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    latest_invoice_id: Mapped[str | None] = mapped_column(String(64))
    pause_collection: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    test_clock_id: Mapped[str | None] = mapped_column(ForeignKey("test_clocks.id", ondelete="CASCADE"))
    # The earliest moment something is due (renewal, retry, trial end, scheduled cancel): the
    # billing runner's only query is "next_action_at <= now".
    next_action_at: Mapped[int | None] = mapped_column(BigInteger)

    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription",
        order_by="SubscriptionItem.pk",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    __table_args__ = (
        # A test clock's due subscriptions (`renew.BillingStep`).
        Index("ix_subscriptions_due", "test_clock_id", "next_action_at"),
        # The billing run's claim (`renew_batch.claim`): the due subscriptions not on a test clock,
        # in the order it takes them, so that a batch is the index's first rows, with no sort of
        # the whole due set (which can share one due moment).
        Index(
            "ix_subscriptions_claim",
            "next_action_at",
            "pk",
            postgresql_where=text("test_clock_id IS NULL AND next_action_at IS NOT NULL"),
            sqlite_where=text("test_clock_id IS NULL AND next_action_at IS NOT NULL"),
        ),
    )


class SubscriptionItem(StripeObject, WithMetadata, Base):
    __tablename__ = "subscription_items"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)

    subscription: Mapped[Subscription] = relationship(back_populates="items")


class Discount(Base):
    """A coupon applied to a subscription (Stripe's `discount` object)."""

    __tablename__ = "discounts"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"))
    promotion_code_id: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int | None] = mapped_column(BigInteger)
    # Set when the discount stops applying (a `once` coupon used, or removed by an update).
    removed_at: Mapped[int | None] = mapped_column(BigInteger)
