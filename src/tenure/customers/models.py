from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, StripeObject, WithMetadata


class Customer(StripeObject, WithMetadata, Base):
    __tablename__ = "customers"

    email: Mapped[str | None] = mapped_column(String(512), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(5000))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    preferred_locales: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # Minor units; negative is credit the customer can spend on the next invoices.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str | None] = mapped_column(String(3))
    # A plain id, not a foreign key: payment methods already point at their customer.
    default_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    test_clock_id: Mapped[str | None] = mapped_column(
        ForeignKey("test_clocks.id", ondelete="CASCADE"), index=True
    )
    deleted: Mapped[bool] = mapped_column(default=False)
    marketing_opt_out: Mapped[bool] = mapped_column(default=False)
    invoice_prefix: Mapped[str] = mapped_column(String(12))
    next_invoice_sequence: Mapped[int] = mapped_column(Integer, default=1)
