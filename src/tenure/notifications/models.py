"""The email outbox (one row per message, unique per cause), campaigns, and renewal-reminder plans."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType, StripeObject


class MessageStatus(StrEnum):
    QUEUED = "queued"  # waiting for the worker (first attempt or a retry)
    SENT = "sent"  # accepted by the SMTP server, or written to the local outbox
    FAILED = "failed"  # refused for good, or every retry failed
    SUPPRESSED = "suppressed"  # a marketing email to a customer who unsubscribed
    SKIPPED = "skipped"  # nobody to send it to (no address), or no longer relevant


class Category(StrEnum):
    TRANSACTIONAL = "transactional"  # always sent: the customer needs it to manage their account
    MARKETING = "marketing"  # win-back campaigns, announcements: only with consent, unsubscribe link
    OPERATOR = "operator"  # to the business itself


class Kind(StrEnum):
    RENEWAL_REMINDER = "renewal_reminder"
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"
    CANCELLATION = "cancellation"
    OFFER_ACCEPTED = "offer_accepted"
    PORTAL_LOGIN = "portal_login"
    WIN_BACK = "win_back"
    ANNOUNCEMENT = "announcement"
    ENDPOINT_DISABLED = "endpoint_disabled"
    CANCELLATION_DIGEST = "cancellation_digest"


CATEGORY: dict[str, Category] = {
    Kind.RENEWAL_REMINDER: Category.TRANSACTIONAL,
    Kind.PAYMENT_FAILED: Category.TRANSACTIONAL,
    Kind.TRIAL_ENDING: Category.TRANSACTIONAL,
    Kind.CANCELLATION: Category.TRANSACTIONAL,
    Kind.OFFER_ACCEPTED: Category.TRANSACTIONAL,
    Kind.PORTAL_LOGIN: Category.TRANSACTIONAL,
    Kind.WIN_BACK: Category.MARKETING,
    Kind.ANNOUNCEMENT: Category.MARKETING,
    Kind.ENDPOINT_DISABLED: Category.OPERATOR,
    Kind.CANCELLATION_DIGEST: Category.OPERATOR,
}
# Messages whose body grants access (a sign-in link): the API never shows their body.
SENSITIVE_KINDS: frozenset[str] = frozenset({Kind.PORTAL_LOGIN})


class OutboxMessage(StripeObject, Base):
    """One email: queued in the transaction of its cause, composed and sent by the worker.

    `cause_key` is unique: a second request to send the same email for the same cause (a retried
    job, a replayed event, a worker restarting mid-run) is ignored by the database itself.
    `created` is when the cause happened, in the customer's time (their test clock's, if on one).
    """

    __tablename__ = "email_messages"

    cause_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[str | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[str | None] = mapped_column(
        ForeignKey("email_campaigns.id", ondelete="CASCADE"), index=True
    )
    # What the email is about, captured when its cause happened (amounts, dates, ids).
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Real time; None means "as soon as possible" (causes on test clocks live in another time).
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger)
    locked_until: Mapped[int | None] = mapped_column(BigInteger)
    # Set when composed (first attempt): every retry sends exactly the same message.
    to_address: Mapped[str | None] = mapped_column(String(512))
    locale: Mapped[str | None] = mapped_column(String(10))
    subject: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(255))
    # The RFC 5322 message, sealed (it may hold sign-in links): see `delivery.seal`.
    raw: Mapped[str | None] = mapped_column(Text)
    eml_path: Mapped[str | None] = mapped_column(String(1024))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_email_messages_due", "status", "next_attempt_at"),)


class EmailCampaign(StripeObject, Base):
    """A marketing email (win-back or announcement) sent once to a segment of customers."""

    __tablename__ = "email_campaigns"

    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(256))
    # `{type, feedback, canceled_after, canceled_before, customers}`: see `campaigns.Segment`.
    segment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # `{locale: {subject, body, button}}`; English is required and stands in for a missing locale.
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    url: Mapped[str | None] = mapped_column(String(2048))
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)


class RenewalReminderPlan(Base):
    """When a subscription on a test clock gets its renewal reminder for one period.

    Advancing a test clock asks each step for its next due moment without the runtime's settings,
    so the reminder moment (which depends on `TENURE_RENEWAL_REMINDER_DAYS`) is planned first, then
    acted on. Real time needs no plan: the worker scans the renewals of the coming days.
    """

    __tablename__ = "renewal_reminder_plans"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    period_end: Mapped[int] = mapped_column(BigInteger)
    # None once acted on, or when no reminder is due for this period.
    remind_at: Mapped[int | None] = mapped_column(BigInteger, index=True)

    __table_args__ = (
        Index("ix_renewal_reminder_plans_period", "subscription_id", "period_end", unique=True),
    )
