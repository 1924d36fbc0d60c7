from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject, WithMetadata


class PaymentMethod(StripeObject, WithMetadata, Base):
    """A way to pay, as the processor described it: never a full card number or IBAN."""

    __tablename__ = "payment_methods"

    type: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    billing_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    card_country: Mapped[str | None] = mapped_column(String(2))
    card_funding: Mapped[str | None] = mapped_column(String(20))
    # A keyed hash (HMAC with a server secret) of the card number or IBAN.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    sepa_bank_code: Mapped[str | None] = mapped_column(String(20))
    sepa_country: Mapped[str | None] = mapped_column(String(2))
    sepa_last4: Mapped[str | None] = mapped_column(String(4))
    paypal_payer_email: Mapped[str | None] = mapped_column(String(512))
    # Detaching is final in Stripe: a detached method can never be attached or used again.
    detached: Mapped[bool] = mapped_column(default=False)
    # The test processor's outcome for charges (succeed | decline | fail); never serialized.
    behaviour: Mapped[str] = mapped_column(String(20), default="succeed")
