from __future__ import annotations

from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject


class StaffRole(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"


class StaffUser(StripeObject, Base):
    __tablename__ = "staff_users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default=StaffRole.ADMIN)
