from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, StripeObject, WithMetadata


class Product(StripeObject, WithMetadata, Base):
    __tablename__ = "products"

    name: Mapped[str] = mapped_column(String(5000))
    description: Mapped[str | None] = mapped_column(String(5000))
    active: Mapped[bool] = mapped_column(default=True)
    # No foreign key: prices reference products, and a cycle would complicate creating both.
    default_price_id: Mapped[str | None] = mapped_column(String(64))
    updated: Mapped[int] = mapped_column(BigInteger)
    unit_label: Mapped[str | None] = mapped_column(String(12))
    url: Mapped[str | None] = mapped_column(String(2048))
    images: Mapped[list[Any]] = mapped_column(default=list)
