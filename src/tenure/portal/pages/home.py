"""The portal home: subscriptions, "Keep my subscription", payment methods and invoices."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.invoices.models import Invoice
from tenure.payments.models import PaymentMethod
from tenure.portal.pages.billing_details import summarize_billing
from tenure.portal.pages.lookups import own_subscription, text
from tenure.portal.pages.rendering import page
from tenure.portal.pages.summaries import summarize
from tenure.portal.pages.visit import Form, PortalPageError, Visit, WritingVisit
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions.common import recording_update
from tenure.subscriptions.models import Subscription

router = APIRouter(include_in_schema=False)
NOTICES = (
    "renewed",
    "canceled",
    "saved",
    "plan_changed",
    "payment_method_updated",
    "payment_method_retry",
    "details_saved",
)


@router.get("/portal")
def home(request: Request, visit: Visit, notice: str | None = None) -> Response:
    subscriptions = list(
        visit.db.scalars(
            select(Subscription)
            .where(Subscription.customer_id == visit.customer.id)
            .order_by(Subscription.pk.desc())
            .limit(20)
        )
    )
    features = visit.features
    methods = list(
        visit.db.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == visit.customer.id)
            .order_by(PaymentMethod.pk)
        )
    )
    invoices = []
    if features.get("invoice_history", {}).get("enabled", True):
        invoices = list(
            visit.db.scalars(
                select(Invoice)
                .where(Invoice.customer_id == visit.customer.id)
                .order_by(Invoice.pk.desc())
                .limit(24)
            )
        )
    return page(
        request,
        visit,
        "portal/home.html",
        {
            "summaries": [summarize(visit.db, s) for s in subscriptions],
            "methods": methods,
            "invoices": invoices,
            "cancel_enabled": features.get("subscription_cancel", {}).get("enabled", True),
            "update_enabled": features.get("subscription_update", {}).get("enabled", False),
            "payment_method_update": features.get("payment_method_update", {}).get("enabled", True),
            "billing": summarize_billing(visit.customer, visit.locale)
            if features.get("customer_update", {}).get("enabled", False)
            else None,
            "headline": text(visit, "headline")
            or (visit.configuration.business_profile or {}).get("headline"),
            "notice": notice if notice in NOTICES else None,
        },
        locale=visit.locale,
    )


@router.post("/portal/subscriptions/{subscription_id}/renew")
def keep_subscription(visit: WritingVisit, form: Form, subscription_id: str) -> Response:
    """ "Keep my subscription": undo a scheduled cancellation (safe to submit twice)."""
    visit.check_csrf(form)
    subscription = own_subscription(visit, subscription_id, for_update=True)
    if subscription.status in cancelling.ENDED:
        raise PortalPageError(409, "ended", visit.locale)
    if subscription.cancel_at_period_end or subscription.cancel_at is not None:
        with recording_update(visit.db, subscription, now=visit.now):
            cancelling.unschedule_cancel(subscription)
    visit.db.commit()
    return RedirectResponse("/portal?notice=renewed", status_code=303)
