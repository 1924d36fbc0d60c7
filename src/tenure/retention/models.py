from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, PkType


class FlowSource(StrEnum):
    PORTAL = "portal"  # the customer opened the cancel page from the portal home
    DEEP_LINK = "deep_link"  # a portal session created with flow_data.type = subscription_cancel


class OfferResponse(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class FlowOutcome(StrEnum):
    CANCELED = "canceled"  # this flow made the cancellation (exactly one flow owns each)
    SAVED = "saved"  # an offer was accepted: nothing canceled
    # Closed without effect: another flow of the subscription (another window, portal session or
    # device) completed first, or the subscription was canceled elsewhere. Neither a save nor a
    # cancellation, and left out of the retention funnel.
    SUPERSEDED = "superseded"


class CancellationFlow(Base):
    """One walk through the cancel page: what was shown, chosen and answered. The insights read this.

    A flow with no outcome whose portal session has expired was abandoned. At most one flow of a
    subscription stays open once one completes: completing closes the others as `superseded`.
    """

    __tablename__ = "cancellation_flows"

    pk: Mapped[int] = mapped_column(PkType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    portal_session_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # The reason as chosen (a standard code or an operator's custom code) and its standard feedback.
    reason_code: Mapped[str | None] = mapped_column(String(40))
    feedback: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    reason_at: Mapped[int | None] = mapped_column(BigInteger)
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    offer_shown_at: Mapped[int | None] = mapped_column(BigInteger)
    offer_response: Mapped[str | None] = mapped_column(String(20))
    offer_responded_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    # How the cancellation was applied (at_period_end | immediately), and the MRR at stake then.
    mode: Mapped[str | None] = mapped_column(String(20))
    mrr: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))

    __table_args__ = (Index("ix_cancellation_flows_sub_response", "subscription_id", "offer_responded_at"),)
