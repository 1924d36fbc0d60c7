from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType


class Job(Base):
    """Transactional outbox: background work written in the same transaction as its cause.

    `unique_key` makes "once per cause" a database guarantee (one email per invoice, …).
    """

    __tablename__ = "jobs"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    unique_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    run_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    done_at: Mapped[int | None] = mapped_column(BigInteger)
    failed_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_jobs_due", "done_at", "run_at"),)
