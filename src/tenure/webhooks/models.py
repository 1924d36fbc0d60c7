from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType, StripeObject, WithMetadata


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class SignatureScheme(StrEnum):
    STRIPE = "stripe"
    STANDARD_WEBHOOKS = "standard_webhooks"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookEndpoint(StripeObject, WithMetadata, Base):
    """Where events are POSTed. The signing secret is kept encrypted (see `signing.SecretBox`)."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(5000))
    enabled_events: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(20), default=EndpointStatus.ENABLED)
    api_version: Mapped[str | None] = mapped_column(String(40))
    signature_scheme: Mapped[str] = mapped_column(String(30), default=SignatureScheme.STRIPE)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # Start of the current run of failed automatic attempts; cleared by any success.
    failing_since: Mapped[int | None] = mapped_column(BigInteger)


class WebhookDelivery(StripeObject, Base):
    """One event to send to one endpoint: the outbox row the worker claims, retries and settles.

    Automatic deliveries are written by the event's own transaction (`unique_key` keeps them one
    per event and endpoint); manual resends add deliveries of their own, tried once.
    """

    __tablename__ = "webhook_deliveries"

    event_id: Mapped[str] = mapped_column(String(64), ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    unique_key: Mapped[str | None] = mapped_column(String(140), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    # A worker's lease on the next attempt; another worker may take it only once it has expired.
    locked_until: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(StripeObject, Base):
    """One HTTP request of a delivery, recorded once: (delivery, number) is unique."""

    __tablename__ = "webhook_attempts"

    delivery_pk: Mapped[int] = mapped_column(PkType, ForeignKey("webhook_deliveries.pk", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    endpoint_id: Mapped[str] = mapped_column(String(64), index=True)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
    # The answer's status line ("HTTP 200 OK"), never its body: a URL pointing inside the network must
    # not read anything back (the name is the API's, from when the body's start was kept).
    response_excerpt: Mapped[str | None] = mapped_column(String(100))
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("delivery_pk", "number", name="uq_webhook_attempts_delivery_number"),)
