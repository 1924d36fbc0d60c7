"""Checkout sessions: Stripe's `checkout.session` in subscription mode, and what its completion made.

The session id is the bearer capability of the hosted page (`/checkout/{id}`), as Stripe's
`/c/pay/cs_…` links are: it is long (58 random characters) so it cannot be guessed, and it is
shown only to the business (API answers, events, the `success_url` it chose).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, StripeObject, WithMetadata
from tenure.ids import new_id

ID_PREFIX = "cs"
# `cs_` and 58 random characters: as long as Stripe's ids, and within the 64-character id column.
ID_RANDOM_LENGTH = 58
DEFAULT_LIFETIME_SECONDS = 24 * 3600
MIN_LIFETIME_SECONDS = 30 * 60


class CheckoutStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    NO_PAYMENT_REQUIRED = "no_payment_required"  # a trial, or a first invoice discounted to zero


def new_checkout_id() -> str:
    return new_id(ID_PREFIX, ID_RANDOM_LENGTH)


class CheckoutSession(StripeObject, WithMetadata, Base):
    __tablename__ = "checkout_sessions"
    __table_args__ = (
        # The worker looks for open sessions past their `expires_at`.
        Index("ix_checkout_sessions_status_expires_at", "status", "expires_at"),
    )

    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    payment_status: Mapped[str] = mapped_column(String(30))
    # Given at creation, or the customer the completion created or recognized.
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    customer_email: Mapped[str | None] = mapped_column(String(512))
    # Stripe's `customer_details` (email, name…), known once the session is complete.
    customer_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    client_reference_id: Mapped[str | None] = mapped_column(String(200))
    # [{"price": "price_…", "quantity": 1}], checked at creation (active, recurring, one currency).
    line_items: Mapped[list[Any]] = mapped_column(JSONType)
    currency: Mapped[str] = mapped_column(String(3))
    amount_subtotal: Mapped[int] = mapped_column(BigInteger)
    amount_total: Mapped[int] = mapped_column(BigInteger)
    amount_discount: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_promotion_codes: Mapped[bool | None] = mapped_column()
    # As requested ([{"coupon"|"promotion_code": …}]); on completion, what was applied.
    discounts: Mapped[list[Any] | None] = mapped_column(JSONType)
    locale: Mapped[str | None] = mapped_column(String(16))
    payment_method_types: Mapped[list[Any]] = mapped_column(JSONType)
    # trial_period_days, trial_end, description, metadata: used when the subscription is created.
    subscription_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    expires_at: Mapped[int] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL"), index=True
    )
    invoice_id: Mapped[str | None] = mapped_column(String(64))
    # A returning customer: the canceled subscription this checkout brought back (for the insights).
    reactivation_of: Mapped[str | None] = mapped_column(String(64), index=True)

    def is_due_to_expire(self, now: int) -> bool:
        return self.status == CheckoutStatus.OPEN and now >= self.expires_at
