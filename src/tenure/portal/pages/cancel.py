"""The cancel flow: confirm → reason → (one offer) → done. Each step can finish the cancellation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenure.api.errors import InvalidRequest
from tenure.billing_context import BillingContext
from tenure.portal.pages.lookups import own_subscription, text
from tenure.portal.pages.reasons import ReasonOption, reason_options
from tenure.portal.pages.rendering import page
from tenure.portal.pages.summaries import summarize
from tenure.portal.pages.visit import Form, PortalPageError, PortalVisit, Visit, WritingVisit
from tenure.retention import flow as flows
from tenure.retention.models import CancellationFlow, FlowOutcome, FlowSource
from tenure.retention.offers import Ineligible, choose_offer, configured_cooldown
from tenure.subscriptions.models import Subscription

router = APIRouter(include_in_schema=False)
BASE = "/portal/subscriptions/{subscription_id}/cancel"


def _cancel_settings(visit: PortalVisit) -> dict[str, Any]:
    settings: dict[str, Any] = visit.features.get("subscription_cancel") or {}
    if not settings.get("enabled", True):
        raise PortalPageError(404, "not_found", visit.locale)
    return settings


def _deep_link(visit: PortalVisit, subscription: Subscription) -> dict[str, Any] | None:
    flow = visit.portal_session.flow or {}
    if (
        flow.get("type") == "subscription_cancel"
        and flow["subscription_cancel"]["subscription"] == subscription.id
    ):
        return flow
    return None


def _flow(visit: PortalVisit, subscription: Subscription, form: dict[str, Any]) -> CancellationFlow:
    try:
        return flows.get_flow(visit.db, str(form.get("flow") or ""), subscription)
    except InvalidRequest:
        raise PortalPageError(409, "flow_expired", visit.locale) from None


# The page that tells the customer why an offer can no longer be accepted (see portal/error.html).
UNAVAILABLE_KIND: dict[Ineligible | None, str] = {
    None: "offer_closed",
    Ineligible.NOT_ACTIVE: "offer_ended",
    Ineligible.CANCELING: "offer_canceling",
    Ineligible.DISCOUNTED: "offer_taken",
    Ineligible.COOLDOWN: "offer_taken",
}


def _retention(visit: PortalVisit) -> dict[str, Any]:
    retention: dict[str, Any] = visit.extensions.get("retention") or {}
    return retention


def _page(
    request: Request, visit: PortalVisit, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    return page(request, visit, template, context, locale=visit.locale, status_code=status)


@router.get(BASE)
def confirm(request: Request, visit: WritingVisit, subscription_id: str) -> Response:
    _cancel_settings(visit)
    subscription = own_subscription(visit, subscription_id, for_update=True)
    summary = summarize(visit.db, subscription)
    if not summary.cancelable:
        return RedirectResponse("/portal", status_code=303)
    source = FlowSource.DEEP_LINK if _deep_link(visit, subscription) else FlowSource.PORTAL
    flow = flows.resume_or_start(
        visit.db,
        subscription,
        source=source,
        locale=visit.locale,
        portal_session_id=visit.portal_session.id,
        now=visit.now,
    )
    visit.db.commit()
    mode = _cancel_settings(visit).get("mode", "at_period_end")
    return _page(
        request,
        visit,
        "portal/cancel_confirm.html",
        {
            "summary": summary,
            "flow": flow,
            "mode": mode,
            "intro": text(visit, "cancel_intro"),
            "access_ends_at": visit.now if mode == "immediately" else subscription.current_period_end,
        },
    )


@router.post(BASE)
def confirmed(visit: WritingVisit, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    settings = _cancel_settings(visit)
    subscription = own_subscription(visit, subscription_id, for_update=True)
    flow = _flow(visit, subscription, form)
    if flow.completed_at is not None:
        return _done_redirect(visit, subscription, flow)
    if settings.get("cancellation_reason", {}).get("enabled", True):
        return RedirectResponse(f"{BASE.format(subscription_id=subscription.id)}/reason?flow={flow.id}", 303)
    return _after_reason(visit, subscription, flow)


@router.get(BASE + "/reason")
def reason(request: Request, visit: Visit, subscription_id: str, flow: str = "") -> Response:
    _cancel_settings(visit)
    subscription = own_subscription(visit, subscription_id)
    record = _flow(visit, subscription, {"flow": flow})
    if record.completed_at is not None:
        return _done_redirect(visit, subscription, record)
    return _reason_page(request, visit, subscription, record, errors={}, chosen=None, comment="")


def _reason_page(
    request: Request,
    visit: PortalVisit,
    subscription: Subscription,
    flow: CancellationFlow,
    *,
    errors: dict[str, str],
    chosen: str | None,
    comment: str,
    status: int = 200,
) -> Response:
    return _page(
        request,
        visit,
        "portal/cancel_reason.html",
        {
            "summary": summarize(visit.db, subscription),
            "flow": flow,
            "errors": errors,
            "chosen": chosen,
            "comment": comment,
            "options": reason_options(visit),
            "max_comment": flows.MAX_COMMENT,
        },
        status,
    )


@router.post(BASE + "/reason")
def reason_given(request: Request, visit: WritingVisit, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    _cancel_settings(visit)
    subscription = own_subscription(visit, subscription_id, for_update=True)
    record = _flow(visit, subscription, form)
    if record.completed_at is not None:
        return _done_redirect(visit, subscription, record)
    options: dict[str, ReasonOption] = {o.code: o for o in reason_options(visit)}
    chosen = str(form.get("reason") or "") or None
    comment = str(form.get("comment") or "")
    errors: dict[str, str] = {}
    if chosen is not None and chosen not in options:
        errors["reason"] = "invalid"
    if len(comment.strip()) > flows.MAX_COMMENT:
        errors["comment"] = "too_long"
    if errors:
        return _reason_page(
            request, visit, subscription, record, errors=errors, chosen=chosen, comment=comment, status=400
        )
    option = options.get(chosen) if chosen else None
    flows.record_reason(
        record,
        reason_code=option.code if option else None,
        feedback=option.feedback if option else None,
        comment=comment,
        now=visit.now,
    )
    return _after_reason(visit, subscription, record)


def _after_reason(visit: PortalVisit, subscription: Subscription, record: CancellationFlow) -> Response:
    deep_link = _deep_link(visit, subscription) or {}
    retention = deep_link.get("subscription_cancel", {}).get("retention") or {}
    offer = choose_offer(
        visit.db,
        subscription,
        retention=_retention(visit),
        deep_link_coupon=(retention.get("coupon_offer") or {}).get("coupon"),
        reason_code=record.reason_code,
        feedback=record.feedback,
        now=visit.now,
    )
    if offer is not None:
        flows.show_offer(record, offer, now=visit.now)
        visit.db.commit()
        return RedirectResponse(f"{BASE.format(subscription_id=subscription.id)}/offer?flow={record.id}", 303)
    return _finish(visit, subscription, record)


def _finish(visit: PortalVisit, subscription: Subscription, record: CancellationFlow) -> Response:
    settings = _cancel_settings(visit)
    mode = settings.get("mode", "at_period_end")
    flows.cancel(
        visit.db,
        record,
        subscription,
        mode=mode,
        prorate=mode == "immediately" and settings.get("proration_behavior") == "create_prorations",
        now=visit.now,
    )
    visit.db.commit()
    return _done_redirect(visit, subscription, record)


@router.get(BASE + "/offer")
def offer(request: Request, visit: Visit, subscription_id: str, flow: str = "") -> Response:
    subscription = own_subscription(visit, subscription_id)
    record = _flow(visit, subscription, {"flow": flow})
    if record.completed_at is not None or record.offer is None:
        return _done_redirect(visit, subscription, record)
    from tenure.portal.pages.offers import describe

    return _page(
        request,
        visit,
        "portal/cancel_offer.html",
        {
            "summary": summarize(visit.db, subscription),
            "flow": record,
            "offer": describe(visit.db, record.offer, subscription),
            "offer_text": text(visit, "offer_text"),
        },
    )


@router.post(BASE + "/offer")
def offer_answered(visit: WritingVisit, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    # The lock makes this the only step running on the subscription: the eligibility checked by
    # `accept_offer`, and the other flows it closes, cannot change until the commit.
    subscription = own_subscription(visit, subscription_id, for_update=True)
    record = _flow(visit, subscription, form)
    accepting = form.get("answer") == "accept"
    if record.outcome == FlowOutcome.SAVED or (record.completed_at is not None and not accepting):
        # A double click, or "No thanks" in a flow already closed: the done page says what happened.
        return _done_redirect(visit, subscription, record)
    if accepting:  # refused, with the reason, when this flow is closed or no longer eligible
        try:
            flows.accept_offer(
                visit.db,
                record,
                subscription,
                context=BillingContext.of(visit.runtime),
                now=visit.now,
                cooldown_days=configured_cooldown(_retention(visit)),
            )
        except flows.OfferUnavailable as refused:
            raise PortalPageError(409, UNAVAILABLE_KIND[refused.reason], visit.locale) from None
        visit.db.commit()
        if record.offer and record.offer.get("type") == "contact" and record.offer.get("url"):
            return RedirectResponse(str(record.offer["url"]), status_code=303)
        return _done_redirect(visit, subscription, record)
    return _finish(visit, subscription, record)


def _done_redirect(visit: PortalVisit, subscription: Subscription, record: CancellationFlow) -> Response:
    deep_link = _deep_link(visit, subscription)
    after = (deep_link or {}).get("after_completion") or {}
    if record.outcome == "canceled" and after.get("type") == "redirect":
        return RedirectResponse(str(after["redirect"]["return_url"]), status_code=303)
    if record.outcome == "canceled" and after.get("type") == "portal_homepage":
        return RedirectResponse("/portal?notice=canceled", status_code=303)
    return RedirectResponse(f"{BASE.format(subscription_id=subscription.id)}/done?flow={record.id}", 303)


@router.get(BASE + "/done")
def done(request: Request, visit: Visit, subscription_id: str, flow: str = "") -> Response:
    subscription = own_subscription(visit, subscription_id)
    record = _flow(visit, subscription, {"flow": flow})
    if record.completed_at is None:
        return RedirectResponse(
            f"{BASE.format(subscription_id=subscription.id)}/reason?flow={record.id}", 303
        )
    after = (_deep_link(visit, subscription) or {}).get("after_completion") or {}
    message = None
    if after.get("type") == "hosted_confirmation":
        message = (after.get("hosted_confirmation") or {}).get("custom_message")
    from tenure.portal.pages.offers import describe

    return _page(
        request,
        visit,
        "portal/cancel_done.html",
        {
            "summary": summarize(visit.db, subscription),
            "flow": record,
            "offer": describe(visit.db, record.offer, subscription) if record.offer else None,
            "custom_message": message or text(visit, "confirmation_message"),
        },
    )
