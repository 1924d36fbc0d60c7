from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, StripeObject


class Event(StripeObject, Base):
    """One change, written in the transaction that made it (the source of webhooks and the audit trail)."""

    __tablename__ = "events"

    type: Mapped[str] = mapped_column(String(100), index=True)
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    api_version: Mapped[str | None] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    pending_webhooks: Mapped[int] = mapped_column(Integer, default=0)
