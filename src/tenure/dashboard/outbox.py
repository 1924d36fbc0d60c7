"""The email outbox: every email Tenure wrote (stored, and sent through SMTP when one is configured),
newest first, and each message's text. Sign-in links are never shown (their bodies grant access)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from tenure.api.errors import ResourceMissing
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import OutboxAdmin
from tenure.notifications.delivery import outbox_box, parse_raw
from tenure.notifications.models import SENSITIVE_KINDS, Kind, MessageStatus, OutboxMessage
from tenure.notifications.outbox import message_query

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 50


@router.get("/dashboard/outbox")
def outbox(
    request: Request,
    visit: OutboxAdmin,
    status: str = "",
    kind: str = "",
    page_number: Annotated[int, Query(alias="page")] = 1,
) -> Response:
    statuses = [s.value for s in MessageStatus]
    kinds = [k.value for k in Kind]
    number = max(1, min(page_number, 100_000))
    stmt = message_query(
        status=status if status in statuses else None, kind=kind if kind in kinds else None
    ).order_by(OutboxMessage.pk.desc())
    found = list(visit.db.scalars(stmt.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return page(
        request,
        visit,
        "dashboard/outbox.html",
        {
            "messages": found[:PAGE_SIZE],
            "has_next": len(found) > PAGE_SIZE,
            "page_number": number,
            "status": status if status in statuses else "",
            "kind": kind if kind in kinds else "",
            "statuses": statuses,
            "kinds": kinds,
            "smtp": bool(visit.runtime.settings.smtp_url),
        },
        section="outbox",
    )


@router.get("/dashboard/outbox/{message_id}")
def message(request: Request, visit: OutboxAdmin, message_id: str) -> Response:
    found = visit.db.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
    if found is None:
        raise ResourceMissing("email message", message_id)
    hidden = found.kind in SENSITIVE_KINDS
    text = None
    if found.raw is not None and not hidden:
        try:
            parsed = parse_raw(outbox_box(visit.runtime.settings).decrypt(found.raw))
        except ValueError:  # sealed with another secret key
            parsed = None
        part = parsed.get_body(preferencelist=("plain",)) if parsed is not None else None
        text = str(part.get_content()) if part is not None else None
    return page(
        request,
        visit,
        "dashboard/outbox_message.html",
        {"message": found, "text": text, "hidden": hidden},
        section="outbox",
    )
