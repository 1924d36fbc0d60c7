"""The subscription use cases as the API calls them (each takes the request's session and time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.api.lists import apply_range
from tenure.billing_context import BillingContext
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions.common import get_subscription, recording_update, remove_discounts, subscription_now
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionList,
    SubscriptionResume,
    SubscriptionUpdate,
)
from tenure.subscriptions.update import update_subscription

__all__ = ["cancel", "create_subscription", "delete_discount", "list_query", "resume", "update"]


def update(
    session: Session,
    subscription_id: str,
    params: SubscriptionUpdate,
    *,
    real_now: int,
    context: BillingContext,
) -> Subscription:
    subscription = get_subscription(session, subscription_id, for_update=True)
    now = subscription_now(session, subscription, real_now)
    update_subscription(session, subscription, params, now=now, context=context)
    return subscription


def cancel(
    session: Session, subscription_id: str, params: SubscriptionCancel, *, real_now: int
) -> Subscription:
    """`DELETE /v1/subscriptions/{id}`: cancel now, with the reason, optionally crediting unused time."""
    subscription = get_subscription(session, subscription_id, for_update=True)
    now = subscription_now(session, subscription, real_now)
    details = params.cancellation_details
    cancelling.cancel_now(
        session,
        subscription,
        now=now,
        feedback=details.feedback.value if details and details.feedback else None,
        comment=details.comment if details else None,
        prorate=params.prorate,
    )
    return subscription


def resume(
    session: Session, subscription_id: str, params: SubscriptionResume, *, real_now: int
) -> Subscription:
    subscription = get_subscription(session, subscription_id, for_update=True)
    if subscription.status != SubscriptionStatus.PAUSED:
        raise InvalidRequest("Only paused subscriptions can be resumed.", param="subscription")
    now = subscription_now(session, subscription, real_now)
    with recording_update(session, subscription, now=now):
        subscription.status = SubscriptionStatus.ACTIVE
        if params.billing_cycle_anchor == "now":
            subscription.billing_cycle_anchor = now
            subscription.current_period_start = now
            subscription.current_period_end = now
    return subscription


def delete_discount(session: Session, subscription_id: str, *, real_now: int) -> Subscription:
    subscription = get_subscription(session, subscription_id, for_update=True)
    now = subscription_now(session, subscription, real_now)
    with recording_update(session, subscription, now=now):
        remove_discounts(session, subscription, now=now)
    return subscription


def list_query(params: SubscriptionList) -> Select[Any]:
    stmt = select(Subscription)
    if params.customer:
        stmt = stmt.where(Subscription.customer_id == params.customer)
    if params.price:
        stmt = stmt.where(
            Subscription.id.in_(
                select(SubscriptionItem.subscription_id).where(SubscriptionItem.price_id == params.price)
            )
        )
    if params.status is None:
        stmt = stmt.where(
            Subscription.status.not_in([SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED])
        )
    elif params.status == "ended":
        stmt = stmt.where(
            Subscription.status.in_([SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED])
        )
    elif params.status != "all":
        stmt = stmt.where(Subscription.status == params.status)
    if params.test_clock:
        stmt = stmt.where(Subscription.test_clock_id == params.test_clock)
    stmt = apply_range(stmt, Subscription.created, params.created)
    stmt = apply_range(stmt, Subscription.current_period_end, params.current_period_end)
    return apply_range(stmt, Subscription.current_period_start, params.current_period_start)
