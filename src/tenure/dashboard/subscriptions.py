"""Subscriptions: the tabs and filters, the detail page, and the operator's actions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.api.errors import TenureError
from tenure.billing_context import BillingContext
from tenure.dashboard import actions
from tenure.dashboard.cancellations import custom_reason_labels
from tenure.dashboard.details import subscription_detail
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.listing import (
    NO_REASON,
    TAB_LABELS,
    SubscriptionFilters,
    Tab,
    subscription_page,
)
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, Operator, Reader, StaffVisit
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.retention.reasons import LABELS, STANDARD_REASONS
from tenure.subscriptions.common import get_subscription, subscription_now

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
NOTICES = {
    "canceled": "The subscription was canceled.",
    "scheduled": "The subscription is scheduled to cancel at the end of its period.",
    "kept": "The scheduled cancellation was undone: the subscription continues.",
    "discounted": "The discount was applied.",
}


def reason_choices(custom_labels: dict[str, str]) -> list[tuple[str, str]]:
    choices = [(code, LABELS[code]["en"]) for code in STANDARD_REASONS]
    choices += sorted(custom_labels.items(), key=lambda entry: entry[1].lower())
    choices += [("payment_failed", "Payment failed (dunning)"), (NO_REASON, "No reason given")]
    return choices


def price_choices(visit: StaffVisit) -> list[tuple[str, str]]:
    rows = visit.db.execute(
        select(Price, Product)
        .join(Product, Product.id == Price.product_id)
        .where(Price.recurring_interval.is_not(None))
        .order_by(Product.name, Price.unit_amount)
        .limit(500)
    ).all()
    return [
        (price.id, f"{product.name}{' · ' + price.nickname if price.nickname else ''} ({price.id})")
        for price, product in rows
    ]


@router.get("/dashboard/subscriptions")
def list_subscriptions(request: Request, visit: Reader) -> Response:
    filters = SubscriptionFilters.parse(request.query_params)
    labels = custom_reason_labels(visit.db)
    results = subscription_page(visit.db, filters, custom_codes=set(labels))
    return page(
        request,
        visit,
        "dashboard/subscriptions.html",
        {
            "filters": filters,
            "tabs": [(tab, TAB_LABELS[tab]) for tab in Tab],
            "results": results,
            "reasons": reason_choices(labels),
            "prices": price_choices(visit),
        },
        section="subscriptions",
    )


def _detail_page(
    request: Request,
    visit: StaffVisit,
    subscription_id: str,
    *,
    error: tuple[str, str] | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response:
    subscription = get_subscription(visit.db, subscription_id)
    detail = subscription_detail(
        visit.db, subscription, now=subscription_now(visit.db, subscription, visit.now)
    )
    return page(
        request,
        visit,
        "dashboard/subscription.html",
        {
            "d": detail,
            "s": subscription,
            "reasons": [(code, LABELS[code]["en"]) for code in STANDARD_REASONS],
            "error": error,
            "form": form or {},
            "notice": NOTICES.get(notice or ""),
        },
        section="subscriptions",
        status_code=400 if error else 200,
    )


@router.get("/dashboard/subscriptions/{subscription_id}")
def subscription(request: Request, visit: Reader, subscription_id: str, notice: str = "") -> Response:
    return _detail_page(request, visit, subscription_id, notice=notice)


def _done(subscription_id: str, notice: str) -> Response:
    return RedirectResponse(f"/dashboard/subscriptions/{subscription_id}?notice={notice}", status_code=303)


@router.post("/dashboard/subscriptions/{subscription_id}/cancel")
def cancel(request: Request, visit: Operator, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    mode = form.get("mode")
    try:
        actions.cancel_subscription(
            visit.db,
            subscription_id,
            staff=visit.staff,
            mode=mode,
            feedback=form.get("feedback"),
            comment=form.get("comment"),
            prorate=form.get("prorate") == "true",
            real_now=visit.now,
            context=BillingContext.of(visit.runtime),
        )
    except TenureError as exc:
        if exc.status_code == 404:
            raise
        visit.db.rollback()
        return _detail_page(
            request,
            visit,
            subscription_id,
            error=("cancel", exc.message),
            form={"mode": mode, "feedback": form.get("feedback"), "comment": form.get("comment")},
        )
    visit.db.commit()
    return _done(subscription_id, "canceled" if mode == "immediately" else "scheduled")


@router.post("/dashboard/subscriptions/{subscription_id}/keep")
def keep(request: Request, visit: Operator, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    try:
        actions.undo_scheduled_cancel(
            visit.db,
            subscription_id,
            staff=visit.staff,
            real_now=visit.now,
            context=BillingContext.of(visit.runtime),
        )
    except TenureError as exc:
        if exc.status_code == 404:
            raise
        visit.db.rollback()
        return _detail_page(request, visit, subscription_id, error=("keep", exc.message))
    visit.db.commit()
    return _done(subscription_id, "kept")


@router.post("/dashboard/subscriptions/{subscription_id}/discount")
def discount(request: Request, visit: Operator, form: Form, subscription_id: str) -> Response:
    visit.check_csrf(form)
    try:
        actions.apply_coupon(
            visit.db,
            subscription_id,
            staff=visit.staff,
            coupon=form.get("coupon").strip(),
            promotion_code=form.get("promotion_code").strip(),
            real_now=visit.now,
            context=BillingContext.of(visit.runtime),
        )
    except TenureError as exc:
        if exc.status_code == 404:
            raise
        visit.db.rollback()
        return _detail_page(
            request,
            visit,
            subscription_id,
            error=("discount", exc.message),
            form={"coupon": form.get("coupon"), "promotion_code": form.get("promotion_code")},
        )
    visit.db.commit()
    return _done(subscription_id, "discounted")
