"""Webhook endpoints: list and create, each delivery with its attempts (status, answer), resend."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.api.errors import TenureError
from tenure.api.params import validate
from tenure.dashboard.actions import record_action
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, Posted, StaffVisit, WebhooksAdmin
from tenure.events.models import Event
from tenure.webhooks import service
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tenure.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from tenure.webhooks.signing import SecretBox

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
DELIVERIES_SHOWN = 50
NOTICES = {
    "resent": "A manual delivery was queued: it is sent once, by the worker, in a moment.",
    "enabled": "The endpoint is enabled.",
    "disabled": "The endpoint is disabled: nothing is sent to it.",
}


@dataclass(frozen=True)
class DeliveryLine:
    delivery: WebhookDelivery
    event_type: str | None
    attempts: list[WebhookAttempt]


def _list_page(
    request: Request,
    visit: StaffVisit,
    *,
    created: tuple[WebhookEndpoint, str] | None = None,
    error: tuple[str, str | None] | None = None,
    posted: Posted | None = None,
    status_code: int = 200,
) -> Response:
    endpoints = list(visit.db.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.pk.desc()).limit(200)))
    return page(
        request,
        visit,
        "dashboard/webhooks.html",
        {"endpoints": endpoints, "created": created, "error": error, "posted": posted or Posted([])},
        section="webhooks",
        status_code=status_code,
    )


@router.get("/dashboard/webhooks")
def endpoints(request: Request, visit: WebhooksAdmin) -> Response:
    return _list_page(request, visit)


@router.post("/dashboard/webhooks")
def create(request: Request, visit: WebhooksAdmin, form: Form) -> Response:
    visit.check_csrf(form)
    events = [e.strip() for e in form.get("enabled_events").replace("\n", ",").split(",") if e.strip()]
    try:
        params = validate(
            WebhookEndpointCreate,
            {
                "url": form.get("url").strip(),
                "enabled_events": events,
                "description": form.get("description"),
            },
        )
        endpoint, secret = service.create_endpoint(
            visit.db,
            params,
            box=SecretBox(visit.secret_key),
            now=visit.now,
            allow_private=visit.runtime.settings.webhook_allow_private,
        )
        record_action(
            visit.db,
            visit.staff,
            action="webhook_endpoint.create",
            object_id=endpoint.id,
            at=visit.now,
            now=visit.now,
        )
    except TenureError as exc:
        visit.db.rollback()
        return _list_page(request, visit, error=(exc.message, exc.param), posted=form, status_code=400)
    visit.db.commit()
    # The secret is shown on this answer only (it is stored encrypted): no redirect, no caching.
    return _list_page(request, visit, created=(endpoint, secret))


@router.get("/dashboard/webhooks/{endpoint_id}")
def endpoint(request: Request, visit: WebhooksAdmin, endpoint_id: str, notice: str = "") -> Response:
    found = service.get_endpoint(visit.db, endpoint_id)
    deliveries = list(
        visit.db.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == found.id)
            .order_by(WebhookDelivery.pk.desc())
            .limit(DELIVERIES_SHOWN)
        )
    )
    types: dict[str, str] = {}
    if deliveries:
        for event_id, event_type in visit.db.execute(
            select(Event.id, Event.type).where(Event.id.in_({d.event_id for d in deliveries}))
        ):
            types[event_id] = event_type
    attempts: dict[int, list[WebhookAttempt]] = {}
    if deliveries:
        for attempt in visit.db.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_pk.in_([d.pk for d in deliveries]))
            .order_by(WebhookAttempt.number.desc())
        ):
            attempts.setdefault(attempt.delivery_pk, []).append(attempt)
    lines = [DeliveryLine(d, types.get(d.event_id), attempts.get(d.pk, [])) for d in deliveries]
    return page(
        request,
        visit,
        "dashboard/webhook.html",
        {"endpoint": found, "deliveries": lines, "notice": NOTICES.get(notice)},
        section="webhooks",
    )


@router.post("/dashboard/webhooks/{endpoint_id}/resend")
def resend(visit: WebhooksAdmin, form: Form, endpoint_id: str) -> Response:
    visit.check_csrf(form)
    delivery = service.resend(visit.db, endpoint_id, form.get("event").strip(), now=visit.now)
    record_action(
        visit.db,
        visit.staff,
        action="webhook_endpoint.resend",
        object_id=endpoint_id,
        at=visit.now,
        now=visit.now,
        details={"event": delivery.event_id, "delivery": delivery.id},
    )
    visit.db.commit()
    return RedirectResponse(f"/dashboard/webhooks/{endpoint_id}?notice=resent", status_code=303)


@router.post("/dashboard/webhooks/{endpoint_id}/status")
def set_status(visit: WebhooksAdmin, form: Form, endpoint_id: str) -> Response:
    visit.check_csrf(form)
    disabled = form.get("disabled") == "true"
    service.update_endpoint(
        visit.db,
        endpoint_id,
        WebhookEndpointUpdate(disabled=disabled),
        allow_private=visit.runtime.settings.webhook_allow_private,
    )
    record_action(
        visit.db,
        visit.staff,
        action="webhook_endpoint.disable" if disabled else "webhook_endpoint.enable",
        object_id=endpoint_id,
        at=visit.now,
        now=visit.now,
    )
    visit.db.commit()
    notice = "disabled" if disabled else "enabled"
    return RedirectResponse(f"/dashboard/webhooks/{endpoint_id}?notice={notice}", status_code=303)
