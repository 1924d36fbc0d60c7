"""The cancel flow's steps as the portal calls them: start, reason, offer (accept or decline), cancel.

Every step is idempotent: a double-clicked button, a replayed form or a second tab changes nothing
twice. Canceling goes through the subscription services, so the cancellation and its reason are
one `customer.subscription.updated` event.

A customer may walk the flow in several portal sessions at once (each "manage billing" click or
email link makes one). The steps run under the subscription's row lock (the page takes it), and
the first flow to complete owns the outcome: the others are closed as `superseded`, so one
cancellation has one canceled flow and one subscription gets at most one offer.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure import money
from tenure.api.errors import InvalidRequest, TenureError
from tenure.billing_context import BillingContext
from tenure.events.service import origin
from tenure.ids import new_id
from tenure.insights.models import CancellationSource
from tenure.notifications.triggers import on_offer_accepted as confirm_offer_accepted
from tenure.prices.models import Price
from tenure.retention.models import CancellationFlow, FlowOutcome, OfferResponse
from tenure.retention.offers import DEFAULT_COOLDOWN_DAYS, Ineligible, Offer, ineligibility
from tenure.retention.reasons import STANDARD_REASONS
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions.common import apply_discounts, recording_update
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.periods import DAY, add_months, monthly_factor
from tenure.subscriptions.schemas import ItemParams, SubscriptionUpdate
from tenure.subscriptions.update import update_subscription

MAX_COMMENT = 500


class OfferUnavailable(TenureError):
    """The flow's offer can no longer be accepted; nothing was changed."""

    status_code = 409
    code = "offer_unavailable"

    def __init__(self, reason: Ineligible | None) -> None:
        super().__init__("This offer is no longer available.", param="offer")
        # Why, for the customer: what makes the subscription ineligible now, or None when only
        # this flow is closed (another window answered first and the subscription changed back).
        self.reason = reason


def monthly_recurring_revenue(session: Session, subscription: Subscription) -> int:
    """The subscription's list price per month in minor units (yearly ÷ 12, weekly × 52 ÷ 12)."""
    total = Fraction(0)
    for item in subscription.items:
        price = session.scalar(select(Price).where(Price.id == item.price_id))
        if price is None or price.recurring_interval is None:
            continue
        numerator, denominator = monthly_factor(price.recurring_interval, price.recurring_interval_count or 1)
        total += Fraction(price.unit_amount * item.quantity * numerator, denominator)
    return money.round_minor(total)


def start(
    session: Session,
    subscription: Subscription,
    *,
    source: str,
    locale: str,
    portal_session_id: str | None,
    now: int,
) -> CancellationFlow:
    flow = CancellationFlow(
        id=new_id("cflow"),
        subscription_id=subscription.id,
        customer_id=subscription.customer_id,
        portal_session_id=portal_session_id,
        source=source,
        locale=locale,
        started_at=now,
        mrr=monthly_recurring_revenue(session, subscription),
        currency=subscription.currency,
    )
    session.add(flow)
    session.flush()
    return flow


def resume_or_start(
    session: Session,
    subscription: Subscription,
    *,
    source: str,
    locale: str,
    portal_session_id: str | None,
    now: int,
) -> CancellationFlow:
    """The flow this portal session already has open on the subscription, or a new one: reloading
    the cancel page (or coming back to it) is one walk through the flow, not another."""
    if portal_session_id is not None:
        open_flow = session.scalar(
            select(CancellationFlow)
            .where(
                CancellationFlow.subscription_id == subscription.id,
                CancellationFlow.portal_session_id == portal_session_id,
                CancellationFlow.outcome.is_(None),
            )
            .order_by(CancellationFlow.pk.desc())
            .limit(1)
        )
        if open_flow is not None:
            return open_flow
    return start(
        session, subscription, source=source, locale=locale, portal_session_id=portal_session_id, now=now
    )


def get_flow(session: Session, flow_id: str, subscription: Subscription) -> CancellationFlow:
    flow = session.scalar(
        select(CancellationFlow)
        .where(CancellationFlow.id == flow_id, CancellationFlow.subscription_id == subscription.id)
        .with_for_update()
    )
    if flow is None:
        raise InvalidRequest("This cancellation form has expired; please start again.", param="flow")
    return flow


def record_reason(
    flow: CancellationFlow, *, reason_code: str | None, feedback: str | None, comment: str | None, now: int
) -> None:
    if flow.completed_at is not None:
        return
    if feedback is not None and feedback not in STANDARD_REASONS:
        raise InvalidRequest("Unknown reason.", param="reason")
    text = (comment or "").strip() or None
    if text is not None and len(text) > MAX_COMMENT:
        raise InvalidRequest(f"The comment can have at most {MAX_COMMENT} characters.", param="comment")
    flow.reason_code, flow.feedback, flow.comment, flow.reason_at = reason_code, feedback, text, now


def show_offer(flow: CancellationFlow, offer: Offer, *, now: int) -> None:
    """Record the one offer of this flow (shown once; a reload shows the same offer)."""
    if flow.offer is None:
        flow.offer = offer.to_record()
        flow.offer_shown_at = now


def _close_other_flows(session: Session, flow: CancellationFlow, *, now: int) -> None:
    """At most one open flow per subscription: once `flow` completes, the customer's other open
    flows on it (other windows, portal sessions, devices) are closed; answering them now would
    stack a second offer or claim the same cancellation twice. The subscription's row lock, held
    by every step, keeps another step from completing one of them meanwhile."""
    for other in session.scalars(
        select(CancellationFlow).where(
            CancellationFlow.subscription_id == flow.subscription_id,
            CancellationFlow.outcome.is_(None),
            CancellationFlow.id != flow.id,
        )
    ):
        other.outcome, other.completed_at = FlowOutcome.SUPERSEDED, now


def cancel(
    session: Session,
    flow: CancellationFlow,
    subscription: Subscription,
    *,
    mode: str,
    prorate: bool,
    now: int,
) -> None:
    """Cancel per the portal's mode, with the flow's reason; a second call does nothing. The caller
    holds the subscription's row lock. A subscription already canceled (or scheduled to be)
    elsewhere is left as it is, and the flow is closed as superseded: it did not cancel."""
    if flow.completed_at is not None:
        return
    if flow.offer is not None and flow.offer_response is None:
        flow.offer_response, flow.offer_responded_at = OfferResponse.DECLINED, now
    already = (
        subscription.cancel_at_period_end
        or subscription.cancel_at is not None
        or subscription.status in cancelling.ENDED
    )
    if already:
        flow.outcome, flow.completed_at = FlowOutcome.SUPERSEDED, now
    else:
        # The insights' row for this cancellation says the portal's flow made it, in its language.
        with origin(session, source=CancellationSource.PORTAL, flow=flow.id, locale=flow.locale):
            if mode == "immediately":
                cancelling.cancel_now(
                    session,
                    subscription,
                    now=now,
                    feedback=flow.feedback,
                    comment=flow.comment,
                    prorate=prorate,
                )
            else:
                with recording_update(session, subscription, now=now):
                    cancelling.schedule_cancel(
                        subscription, now=now, feedback=flow.feedback, comment=flow.comment
                    )
        flow.mode = mode
        flow.outcome, flow.completed_at = FlowOutcome.CANCELED, now
    _close_other_flows(session, flow, now=now)
    session.flush()


def accept_offer(
    session: Session,
    flow: CancellationFlow,
    subscription: Subscription,
    *,
    context: BillingContext,
    now: int,
    cooldown_days: int = DEFAULT_COOLDOWN_DAYS,
) -> dict[str, Any]:
    """Apply the flow's offer: the subscription keeps running. Returns the offer record.

    The caller holds the subscription's row lock. Eligibility was checked when the offer was shown;
    it is checked again here with the same rule, since another window may have canceled or taken
    an offer since. Raises `OfferUnavailable` (and changes nothing) when it no longer holds or this
    flow is closed; accepting twice in the same flow applies the offer once."""
    offer = flow.offer
    if offer is None:
        raise InvalidRequest("No offer was made in this flow.", param="offer")
    if flow.outcome == FlowOutcome.SAVED:
        return offer
    refusal = ineligibility(session, subscription, now=now, cooldown_days=cooldown_days)
    if flow.completed_at is not None or refusal is not None:
        raise OfferUnavailable(refusal)
    kind = offer["type"]
    if kind == "coupon":
        from tenure.coupons.service import get_coupon

        coupon = get_coupon(session, offer["coupon"], param="offer")
        with recording_update(session, subscription, now=now):
            apply_discounts(session, subscription, [(coupon, None)], now=now)
    elif kind == "pause":
        with recording_update(session, subscription, now=now):
            subscription.pause_collection = {
                "behavior": "void",
                "resumes_at": add_months(now, int(offer["pause_months"] or 1)),
            }
    elif kind == "switch_price":
        item = subscription.items[0]
        update_subscription(
            session,
            subscription,
            SubscriptionUpdate(
                items=[ItemParams(id=item.id, price=offer["price"])], proration_behavior="create_prorations"
            ),
            now=now,
            context=context,
        )
    elif kind == "extend_trial":
        base = max(subscription.trial_end or now, now)
        update_subscription(
            session,
            subscription,
            SubscriptionUpdate(trial_end=base + int(offer["trial_days"]) * DAY),
            now=now,
            context=context,
        )
    flow.offer_response, flow.offer_responded_at = OfferResponse.ACCEPTED, now
    flow.outcome, flow.completed_at = FlowOutcome.SAVED, now
    _close_other_flows(session, flow, now=now)
    session.flush()
    # The confirmation email is a row of this change (the outbox sends it after commit).
    confirm_offer_accepted(session, flow, subscription, now)
    return offer
