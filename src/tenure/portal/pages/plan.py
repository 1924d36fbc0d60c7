"""Plan switch: choose a configured price → confirm with the amounts → switch → done notice.

Deep links: `subscription_update` lands on the choice, `subscription_update_confirm` straight on
the confirmation of its price (with its discounts and quantity)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenure.billing_context import BillingContext
from tenure.portal.pages.lookups import own_subscription
from tenure.portal.pages.rendering import page
from tenure.portal.pages.summaries import summarize
from tenure.portal.pages.switching import (
    PlanChoice,
    can_switch,
    plan_choices,
    preview_switch,
    switch_params,
)
from tenure.portal.pages.visit import Form, PortalPageError, PortalVisit, Visit, WritingVisit
from tenure.subscriptions import service as subscriptions
from tenure.subscriptions.common import subscription_now
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.schemas import SubscriptionUpdate

router = APIRouter(include_in_schema=False)
BASE = "/portal/subscriptions/{subscription_id}/plan"
FLOW_TYPES = ("subscription_update", "subscription_update_confirm")


def _settings(visit: PortalVisit) -> dict[str, Any]:
    settings: dict[str, Any] = visit.features.get("subscription_update") or {}
    if not settings.get("enabled", False):
        raise PortalPageError(404, "not_found", visit.locale)
    return settings


def _switchable(visit: PortalVisit, subscription_id: str) -> Subscription:
    subscription = own_subscription(visit, subscription_id)
    if not can_switch(subscription):
        raise PortalPageError(409, "not_changeable", visit.locale)
    return subscription


def _deep_link(visit: PortalVisit, subscription: Subscription) -> dict[str, Any] | None:
    flow = visit.portal_session.flow or {}
    kind = flow.get("type")
    if kind in FLOW_TYPES and (flow.get(kind) or {}).get("subscription") == subscription.id:
        return flow
    return None


def _confirm_link(visit: PortalVisit, subscription: Subscription) -> dict[str, Any] | None:
    """The `subscription_update_confirm` deep link's item of this subscription, if it names a price."""
    flow = _deep_link(visit, subscription) or {}
    if flow.get("type") != "subscription_update_confirm":
        return None
    item = (flow["subscription_update_confirm"].get("items") or [{}])[0]
    return item if item.get("price") else None


def _params(
    visit: PortalVisit, subscription: Subscription, choice: PlanChoice, settings: dict[str, Any]
) -> SubscriptionUpdate:
    """The switch, with the confirm deep link's quantity and discounts when it is that link's price."""
    item = _confirm_link(visit, subscription) or {}
    linked = item.get("price") == choice.price_id
    confirm = (visit.portal_session.flow or {}).get("subscription_update_confirm") or {}
    return switch_params(
        subscription,
        choice.price_id,
        proration_behavior=str(settings.get("proration_behavior") or "none"),
        quantity=item.get("quantity") if linked else None,
        discounts=confirm.get("discounts") if linked else None,
    )


def _choice(
    visit: PortalVisit, subscription: Subscription, settings: dict[str, Any], price: str
) -> PlanChoice:
    for choice in plan_choices(visit.db, subscription, settings):
        if choice.price_id == price:
            return choice
    raise PortalPageError(404, "not_found", visit.locale)


@router.get(BASE)
def choose(request: Request, visit: WritingVisit, subscription_id: str, price: str | None = None) -> Response:
    """The prices to choose from; with `price` (or a confirm deep link), the confirmation. A write
    phase: the confirmation's preview runs the real switch in a savepoint it rolls back."""
    settings = _settings(visit)
    subscription = _switchable(visit, subscription_id)
    current = {item.price_id for item in subscription.items}
    if price in current:
        return RedirectResponse(BASE.format(subscription_id=subscription.id), status_code=303)
    linked = _confirm_link(visit, subscription)
    # Once the confirm deep link's switch is done, its price is the current one: offer the choice.
    chosen = price or (linked["price"] if linked and linked["price"] not in current else None)
    summary = summarize(visit.db, subscription)
    if not chosen:
        return page(
            request,
            visit,
            "portal/plan.html",
            {"summary": summary, "choices": plan_choices(visit.db, subscription, settings)},
            locale=visit.locale,
        )
    choice = _choice(visit, subscription, settings, chosen)
    preview = preview_switch(
        visit.db,
        subscription,
        _params(visit, subscription, choice, settings),
        now=subscription_now(visit.db, subscription, visit.real_now),
        context=BillingContext.of(visit.runtime),
    )
    return page(
        request,
        visit,
        "portal/plan_confirm.html",
        {
            "summary": summary,
            "choice": choice,
            "preview": preview,
            "proration_behavior": settings.get("proration_behavior") or "none",
            # A confirm deep link has no choice to go back to.
            "back_url": "/portal" if linked else BASE.format(subscription_id=subscription.id),
        },
        locale=visit.locale,
    )


@router.post(BASE)
def switch(visit: WritingVisit, form: Form, subscription_id: str) -> Response:
    """Switch to the posted price (safe to submit twice: the second finds the price in place)."""
    visit.check_csrf(form)
    settings = _settings(visit)
    subscription = own_subscription(visit, subscription_id, for_update=True)
    price = str(form.get("price") or "")
    if price in {item.price_id for item in subscription.items}:
        return _done_redirect(visit, subscription)
    if not can_switch(subscription):
        raise PortalPageError(409, "not_changeable", visit.locale)
    choice = _choice(visit, subscription, settings, price)
    subscriptions.update(
        visit.db,
        subscription.id,
        _params(visit, subscription, choice, settings),
        real_now=visit.real_now,
        context=BillingContext.of(visit.runtime),
    )
    visit.db.commit()
    return _done_redirect(visit, subscription)


def _done_redirect(visit: PortalVisit, subscription: Subscription) -> Response:
    after = (_deep_link(visit, subscription) or {}).get("after_completion") or {}
    if after.get("type") == "redirect":
        return RedirectResponse(str(after["redirect"]["return_url"]), status_code=303)
    if after.get("type") == "hosted_confirmation":
        return RedirectResponse(f"{BASE.format(subscription_id=subscription.id)}/done", status_code=303)
    return RedirectResponse("/portal?notice=plan_changed", status_code=303)


@router.get(BASE + "/done")
def done(request: Request, visit: Visit, subscription_id: str) -> Response:
    """The hosted confirmation of a deep-linked switch, with the session's custom message."""
    _settings(visit)
    subscription = own_subscription(visit, subscription_id)
    after = (_deep_link(visit, subscription) or {}).get("after_completion") or {}
    message = (after.get("hosted_confirmation") or {}).get("custom_message")
    return page(
        request,
        visit,
        "portal/plan_done.html",
        {"summary": summarize(visit.db, subscription), "custom_message": message},
        locale=visit.locale,
    )
