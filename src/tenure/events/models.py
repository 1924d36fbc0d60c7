from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, FunctionElement, Index, Integer, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler

from tenure.db.base import Base, JSONType, StripeObject


class current_transaction(FunctionElement[int]):
    """The writing transaction's id on PostgreSQL (`pg_current_xact_id()`), NULL elsewhere.

    Consumers of the event log read PostgreSQL's events in transaction order, up to the oldest
    transaction still running: a row inserted by a transaction that commits later can then never
    fall behind a consumer's checkpoint. SQLite has one writer at a time, so its `pk` order is
    already the commit order.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(current_transaction, "postgresql")
def _current_transaction_postgresql(element: current_transaction, compiler: SQLCompiler, **kw: Any) -> str:
    return "pg_current_xact_id()::text::bigint"


@compiles(current_transaction)
def _current_transaction_other(element: current_transaction, compiler: SQLCompiler, **kw: Any) -> str:
    return "NULL"


class Event(StripeObject, Base):
    """One change, written in the transaction that made it: the source of webhooks and the audit
    trail, and the outbox every after-commit consumer follows (see `tenure.consumers`)."""

    __tablename__ = "events"

    type: Mapped[str] = mapped_column(String(100), index=True)
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    api_version: Mapped[str | None] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    pending_webhooks: Mapped[int] = mapped_column(Integer, default=0)
    # Who made the change, for consumers (never serialized): e.g. {"source": "portal", "flow": …}.
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tx: Mapped[int | None] = mapped_column(BigInteger, default=current_transaction())

    __table_args__ = (Index("ix_events_tx_pk", "tx", "pk"),)


class ConsumerCheckpoint(Base):
    """How far one consumer has read the event log: the last event it handled, by (`tx`, `pk`)."""

    __tablename__ = "event_consumers"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0)
    pk: Mapped[int] = mapped_column(BigInteger, default=0)
    # Passes in a row that failed on the event after the checkpoint, and the last error.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=0)
