from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject


class ApiKey(StripeObject, Base):
    """A secret API key, stored as its SHA-256 only.

    Keys carry about 190 random bits, so a slow password hash would add nothing but latency.
    """

    __tablename__ = "api_keys"

    name: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redacted: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
