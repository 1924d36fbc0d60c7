from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject, WithMetadata


class PriceType(StrEnum):
    RECURRING = "recurring"
    ONE_TIME = "one_time"


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Price(StripeObject, WithMetadata, Base):
    __tablename__ = "prices"
    __table_args__ = (
        # A lookup key names one active price at a time; archived prices may keep theirs.
        Index(
            "ix_prices_active_lookup_key",
            "lookup_key",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    product_id: Mapped[str] = mapped_column(String(64), ForeignKey("products.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    recurring_interval: Mapped[str | None] = mapped_column(String(10))
    recurring_interval_count: Mapped[int | None] = mapped_column(Integer)
    recurring_trial_period_days: Mapped[int | None] = mapped_column(Integer)
    lookup_key: Mapped[str | None] = mapped_column(String(200))
    nickname: Mapped[str | None] = mapped_column(String(5000))

    @property
    def is_recurring(self) -> bool:
        return self.type == PriceType.RECURRING


# Stripe's limit: a billing interval is at most one year long.
MAX_INTERVAL_COUNT: dict[str, int] = {
    Interval.DAY: 365,
    Interval.WEEK: 52,
    Interval.MONTH: 12,
    Interval.YEAR: 1,
}


def interval_within_limit(interval: str, count: int) -> bool:
    return 1 <= count <= MAX_INTERVAL_COUNT[interval]
