from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, PkType


class CancellationSource(StrEnum):
    PORTAL = "portal"
    API = "api"
    DUNNING = "dunning"
    OPERATOR = "operator"


class CancellationRecord(Base):
    """One row per canceled subscription, kept in the same transaction as the cancellation.

    The insights aggregate this table instead of re-deriving every figure from subscriptions,
    invoices and discounts at query time; the SQL console shows it as `cancellations`.
    """

    __tablename__ = "cancellations"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    canceled_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[int] = mapped_column(BigInteger)
    tenure_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))  # cancellation_requested | payment_failed | …
    feedback: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    price_id: Mapped[str | None] = mapped_column(String(64))
    product_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    mrr: Mapped[int] = mapped_column(BigInteger)
    locale: Mapped[str | None] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(20), default=CancellationSource.API)
    flow_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_cancellations_canceled_at", "canceled_at", "feedback"),
        Index("ix_cancellations_price", "price_id", "canceled_at"),
    )


class CancellationDay(Base):
    """Cancellations per UTC day and key: what the insights page and API aggregate.

    Kept in the same transaction as each `cancellations` row it counts (see rollup.py), so a
    year of a large book is a few thousand rows instead of hundreds of thousands. Empty strings
    stand for "none" (no feedback, no price) because NULLs never collide in a unique key.
    """

    __tablename__ = "cancellation_days"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    day: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(40))
    feedback: Mapped[str] = mapped_column(String(40))
    price_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    tenure_bucket: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer)
    mrr: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint(
            "day",
            "reason",
            "feedback",
            "price_id",
            "currency",
            "tenure_bucket",
            name="uq_cancellation_days_key",
        ),
    )
