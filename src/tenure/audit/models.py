"""One table, `audit_log`: an entry per operator action and per successful mutating API request."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType


class ActorKind(StrEnum):
    STAFF = "staff"  # a dashboard account
    API_KEY = "api_key"


class AuditEntry(Base):
    """Written in the transaction of the action it records: a rolled-back action leaves no entry.

    Plain ids and names as they were (no foreign keys): the log outlives a deleted account or key.
    Never a secret: for the API, only the names of the parameters sent, not their values.
    """

    __tablename__ = "audit_log"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[int] = mapped_column(BigInteger)  # real time, never a test clock's
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(64))
    # The staff email, or the API key's name (and its redacted form: `sk_test_…abcd`).
    actor_name: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(200))
    object_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # The page's filters, newest first.
        Index("ix_audit_log_actor", "actor_id", "pk"),
        Index("ix_audit_log_object", "object_id", "pk"),
    )
