from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject


class TestClockStatus(StrEnum):
    READY = "ready"
    ADVANCING = "advancing"
    INTERNAL_FAILURE = "internal_failure"


class TestClock(StripeObject, Base):
    __tablename__ = "test_clocks"
    __test__ = False  # not a pytest test class

    name: Mapped[str | None] = mapped_column(String(300))
    frozen_time: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=TestClockStatus.READY)
    deletes_after: Mapped[int] = mapped_column(BigInteger)
