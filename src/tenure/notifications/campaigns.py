"""Marketing emails to a segment: win-back campaigns and announcements (new features, offers).

A campaign queues one outbox row per customer of its segment, in the request's transaction. A
customer who unsubscribed (`tenure_marketing_opt_out`) gets a `suppressed` row and no email, and
consent is checked again when the worker sends, so unsubscribing in between is honoured too.
Customers on test clocks are only reached when named in an explicit `customers` segment.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.coupons.models import PromotionCode, promotion_code_is_usable
from tenure.customers.models import Customer
from tenure.ids import new_id
from tenure.insights.categories import matching as category_in
from tenure.notifications.models import EmailCampaign, MessageStatus
from tenure.notifications.outbox import queue_email
from tenure.notifications.schemas import CampaignCreate, SegmentParams
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus

# Subscriptions that make a customer "current" (not a win-back target).
CURRENT = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


def canceled_match(segment: SegmentParams) -> list[ColumnElement[bool]]:
    """What a canceled subscription must satisfy to put its customer in a `canceled` segment (every
    condition on the same subscription); the insights' win-back page lists those subscriptions."""
    conditions: list[ColumnElement[bool]] = [Subscription.status == SubscriptionStatus.CANCELED]
    if segment.canceled_after is not None:
        conditions.append(Subscription.canceled_at >= segment.canceled_after)
    if segment.canceled_before is not None:
        conditions.append(Subscription.canceled_at < segment.canceled_before)
    if segment.feedback:
        details = Subscription.cancellation_details
        conditions.append(
            category_in(
                list(segment.feedback),
                reason=details["reason"].as_string(),
                feedback=details["feedback"].as_string(),
            )
        )
    if segment.prices:
        conditions.append(
            exists(
                select(SubscriptionItem.pk).where(
                    SubscriptionItem.subscription_id == Subscription.id,
                    SubscriptionItem.price_id.in_(segment.prices),
                )
            )
        )
    return conditions


def segment_query(segment: SegmentParams) -> Select[Any]:
    """The customers a segment names (with an email address, not deleted)."""
    stmt = select(Customer).where(Customer.deleted.is_(False), Customer.email.is_not(None))
    if segment.type == "customers":
        return stmt.where(Customer.id.in_(segment.customers or []))
    stmt = stmt.where(Customer.test_clock_id.is_(None))
    # Correlated on the customer only, so that a caller may join the customers' subscriptions too.
    current = exists(
        select(Subscription.pk)
        .where(Subscription.customer_id == Customer.id, Subscription.status.in_(CURRENT))
        .correlate(Customer)
    )
    if segment.type == "active":
        return stmt.where(current)
    if segment.type == "canceled":
        canceled = (
            select(Subscription.pk)
            .where(Subscription.customer_id == Customer.id, *canceled_match(segment))
            .correlate(Customer)
        )
        return stmt.where(exists(canceled), ~current)
    return stmt


def _promotion_code(session: Session, promotion_code_id: str | None, *, now: int) -> str | None:
    if promotion_code_id is None:
        return None
    code = session.scalar(select(PromotionCode).where(PromotionCode.id == promotion_code_id))
    if code is None:
        raise ResourceMissing("promotion code", promotion_code_id, param="promotion_code")
    if not promotion_code_is_usable(code, now):
        raise InvalidRequest(f"The promotion code {code.code} cannot be redeemed.", param="promotion_code")
    return code.code


def create_campaign(
    session: Session, params: CampaignCreate, *, now: int, campaign_id: str | None = None
) -> EmailCampaign:
    """Create the campaign and queue its emails (suppressed for customers who unsubscribed).

    `campaign_id` lets a form choose the id in advance: sending the same form twice then collides on
    the id (a unique key) instead of mailing everyone twice."""
    if params.segment.type == "customers" and not params.segment.customers:
        raise InvalidRequest(
            "Name at least one customer for a `customers` segment.", param="segment[customers]"
        )
    campaign = EmailCampaign(
        id=campaign_id or new_id("ecamp"),
        created=now,
        kind=params.kind,
        name=params.name,
        segment=params.segment.model_dump(mode="json", exclude_none=True),
        content={locale: text.model_dump(exclude_none=True) for locale, text in params.content.items()},
        url=params.url,
        promotion_code=_promotion_code(session, params.promotion_code, now=now),
    )
    session.add(campaign)
    session.flush()
    for customer in session.scalars(segment_query(params.segment).order_by(Customer.pk)).all():
        status = MessageStatus.SUPPRESSED if customer.marketing_opt_out else MessageStatus.QUEUED
        queue_email(
            session,
            kind=params.kind,
            cause_key=f"campaign:{campaign.id}:{customer.id}",
            occurred_at=now,
            customer_id=customer.id,
            campaign_id=campaign.id,
            status=status,
            note="the customer unsubscribed from marketing emails"
            if status == MessageStatus.SUPPRESSED
            else None,
        )
        campaign.recipients += 1
        if status == MessageStatus.SUPPRESSED:
            campaign.suppressed += 1
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: str) -> EmailCampaign:
    campaign = session.scalar(select(EmailCampaign).where(EmailCampaign.id == campaign_id))
    if campaign is None:
        raise ResourceMissing("email campaign", campaign_id)
    return campaign
