"""The dashboard's own tables: staff sign-in sessions, failed sign-ins (throttling), operator actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType


class StaffSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored; signing out deletes it."""

    __tablename__ = "staff_sessions"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class SignInFailure(Base):
    """One failed sign-in, kept for the throttling window. Keys are hashes: no email or IP is stored."""

    __tablename__ = "staff_sign_in_failures"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    # sha256("ip|email") and sha256("ip"): one throttle per account and address, one per address.
    pair_key: Mapped[str] = mapped_column(String(64))
    address_key: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_staff_sign_in_failures_pair", "pair_key", "created"),
        Index("ix_staff_sign_in_failures_address", "address_key", "created"),
    )


class StaffAction(Base):
    """What an operator changed from the dashboard (the audit trail; also tells an operator's
    cancellation apart from one made through the API)."""

    __tablename__ = "staff_actions"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    # Plain ids and the email as it was: the trail outlives a deleted account.
    staff_id: Mapped[str] = mapped_column(String(64))
    staff_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The object's time of the change (a test clock's when the object is on one).
    at: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
