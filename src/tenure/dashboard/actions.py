"""Operator actions on a subscription, through the same services as the API (same checks, same
`customer.subscription.updated` events), each written to the `staff_actions` trail and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter
from tenure.api.params import validate
from tenure.audit.service import record as record_audit
from tenure.audit.service import staff_actor
from tenure.billing_context import BillingContext
from tenure.customers.models import Customer
from tenure.dashboard.cancellations import OPERATOR_CANCEL
from tenure.dashboard.models import StaffAction
from tenure.events.service import origin
from tenure.ids import new_id
from tenure.insights.models import CancellationSource as InsightsSource
from tenure.staff.models import StaffUser
from tenure.subscriptions import service
from tenure.subscriptions.cancel import ENDED
from tenure.subscriptions.common import get_subscription, subscription_now
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.schemas import SubscriptionCancel, SubscriptionUpdate

CANCEL_MODES = ("at_period_end", "immediately")


def record_action(
    session: Session,
    staff: StaffUser,
    *,
    action: str,
    object_id: str | None,
    at: int,
    now: int,
    details: dict[str, Any] | None = None,
) -> StaffAction:
    """Record an operator's action, in the action's transaction: in `staff_actions` (at the object's
    time, for the subscription pages) and in the audit log (real time, with the client address)."""
    record_audit(session, staff_actor(staff), action=action, object_id=object_id, now=now, summary=details)
    entry = StaffAction(
        id=new_id("sact"),
        staff_id=staff.id,
        staff_email=staff.email,
        action=action,
        object_id=object_id,
        at=at,
        created=now,
        details=details or {},
    )
    session.add(entry)
    session.flush()
    return entry


def cancel_subscription(
    session: Session,
    subscription_id: str,
    *,
    staff: StaffUser,
    mode: str,
    feedback: str,
    comment: str,
    prorate: bool,
    real_now: int,
    context: BillingContext,
) -> Subscription:
    """Cancel now (optionally crediting unused time) or at period end, with the operator's reason."""
    if mode not in CANCEL_MODES:
        raise InvalidRequest("Choose when the subscription ends.", param="mode")
    if not feedback:
        raise MissingParameter("cancellation_details[feedback]")
    details = {"feedback": feedback, "comment": comment.strip() or None}
    subscription = get_subscription(session, subscription_id, for_update=True)
    # The insights' row for this cancellation says an operator made it.
    with origin(session, source=InsightsSource.OPERATOR, locale=_decision_locale(session, subscription)):
        if mode == "immediately":
            params = validate(SubscriptionCancel, {"cancellation_details": details, "prorate": prorate})
            service.cancel(session, subscription_id, params, real_now=real_now)
        else:
            if subscription.cancel_at_period_end or subscription.cancel_at is not None:
                raise InvalidRequest("This subscription is already scheduled to cancel.", param="mode")
            update = validate(
                SubscriptionUpdate, {"cancel_at_period_end": True, "cancellation_details": details}
            )
            service.update(session, subscription_id, update, real_now=real_now, context=context)
    assert subscription.canceled_at is not None
    record_action(
        session,
        staff,
        action=OPERATOR_CANCEL,
        object_id=subscription.id,
        at=subscription.canceled_at,
        now=real_now,
        details={"mode": mode, "feedback": feedback, "prorate": prorate},
    )
    return subscription


def _decision_locale(session: Session, subscription: Subscription) -> str:
    """The customer's language, else the dashboard's own (English): the language of the decision."""
    customer = session.scalar(select(Customer).where(Customer.id == subscription.customer_id))
    locales = list(customer.preferred_locales or []) if customer else []
    return str(locales[0]).split("-")[0] if locales else "en"


def undo_scheduled_cancel(
    session: Session, subscription_id: str, *, staff: StaffUser, real_now: int, context: BillingContext
) -> Subscription:
    """Keep a subscription that is scheduled to cancel (its reason is cleared, as in the portal)."""
    subscription = get_subscription(session, subscription_id, for_update=True)
    if subscription.status in ENDED:
        raise InvalidRequest("This subscription has ended: it can no longer be kept.", param="subscription")
    if not (subscription.cancel_at_period_end or subscription.cancel_at is not None):
        raise InvalidRequest("This subscription is not scheduled to cancel.", param="subscription")
    update = validate(SubscriptionUpdate, {"cancel_at_period_end": False, "cancel_at": ""})
    service.update(session, subscription_id, update, real_now=real_now, context=context)
    record_action(
        session,
        staff,
        action="subscription.undo_cancel",
        object_id=subscription.id,
        at=subscription_now(session, subscription, real_now),
        now=real_now,
    )
    return subscription


def apply_coupon(
    session: Session,
    subscription_id: str,
    *,
    staff: StaffUser,
    coupon: str,
    promotion_code: str,
    real_now: int,
    context: BillingContext,
) -> Subscription:
    """Set the subscription's discount to a coupon or promotion code (replacing the current one, as
    the API's `discounts` does)."""
    if bool(coupon) == bool(promotion_code):
        raise InvalidRequest("Choose a coupon or type a promotion code (one of them).", param="coupon")
    entry = {"coupon": coupon} if coupon else {"promotion_code": promotion_code}
    update = validate(SubscriptionUpdate, {"discounts": [entry]})
    subscription = service.update(session, subscription_id, update, real_now=real_now, context=context)
    record_action(
        session,
        staff,
        action="subscription.apply_discount",
        object_id=subscription.id,
        at=subscription_now(session, subscription, real_now),
        now=real_now,
        details=entry,
    )
    return subscription
