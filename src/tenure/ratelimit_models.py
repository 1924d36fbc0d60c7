"""The token buckets PostgreSQL keeps for every server (`tenure.ratelimit`); SQLite's stay in memory.

The table exists on both databases so that one schema serves both; only PostgreSQL writes to it. It
is UNLOGGED there (migration 0019): a bucket is worth less than the WAL a logged write costs on
every API request, and a crash that empties the table only gives every key a full bucket, as a
restart of an in-memory limiter does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Double, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base


class RateLimitBucket(Base):
    """One key's bucket (`api:<key id>`, `signin:<form>:<address>`), as of `counted_at`, the
    database's clock at the last request. `full_at` is when it refills completely: from then on
    it says nothing a missing row would not, and may be deleted."""

    __tablename__ = "rate_limit_buckets"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    counted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    full_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Whether the last request was let through: how one statement both decides and reports.
    granted: Mapped[bool]
