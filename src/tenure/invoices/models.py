from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tenure.db.base import Base, JSONType, PkType, StripeObject, WithMetadata


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


class BillingReason(StrEnum):
    SUBSCRIPTION_CREATE = "subscription_create"
    SUBSCRIPTION_CYCLE = "subscription_cycle"
    SUBSCRIPTION_UPDATE = "subscription_update"
    SUBSCRIPTION_CANCEL = "subscription_cancel"
    MANUAL = "manual"


class Invoice(StripeObject, WithMetadata, Base):
    __tablename__ = "invoices"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)
    number: Mapped[str | None] = mapped_column(String(64), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    billing_reason: Mapped[str] = mapped_column(String(40))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{"amount": int, "discount": "di_…"}], as Stripe's `total_discount_amounts`.
    discount_amounts: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_remaining: Mapped[int] = mapped_column(BigInteger, default=0)
    starting_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    ending_balance: Mapped[int | None] = mapped_column(BigInteger)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    attempted: Mapped[bool] = mapped_column(default=False)
    next_payment_attempt: Mapped[int | None] = mapped_column(BigInteger)
    # When the first attempt failed: the dunning schedule counts from here.
    first_failed_at: Mapped[int | None] = mapped_column(BigInteger)
    finalized_at: Mapped[int | None] = mapped_column(BigInteger)
    paid_at: Mapped[int | None] = mapped_column(BigInteger)
    voided_at: Mapped[int | None] = mapped_column(BigInteger)
    marked_uncollectible_at: Mapped[int | None] = mapped_column(BigInteger)
    default_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    last_payment_error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    test_clock_id: Mapped[str | None] = mapped_column(String(64))

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.pk", lazy="selectin"
    )


class InvoiceLine(Base):
    """A line of an invoice; with no invoice yet, a pending item (a proration) for the next one."""

    __tablename__ = "invoice_lines"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subscription_item_id: Mapped[str | None] = mapped_column(String(64))
    price_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[int] = mapped_column(BigInteger)
    discount_amounts: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    proration: Mapped[bool] = mapped_column(default=False)
    created: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice | None] = relationship(back_populates="lines")
