"""Opening a portal session: the URL's secret works once, within 5 minutes; the browser then
holds a fresh session cookie for an hour (a new token, so a leaked URL cannot be replayed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.portal.models import PortalSession
from tenure.portal.pages.visit import COOKIE, PortalPageError, request_locale
from tenure.runtime import Runtime
from tenure.web.security import hash_token, is_https, new_token

router = APIRouter(include_in_schema=False)
BROWSER_SESSION_SECONDS = 3600


def landing_path(portal_session: PortalSession) -> str:
    """Where a session starts: the deep-linked flow, else the portal home."""
    flow = portal_session.flow or {}
    kind = flow.get("type")
    if kind == "subscription_cancel":
        return f"/portal/subscriptions/{flow['subscription_cancel']['subscription']}/cancel"
    if kind in ("subscription_update", "subscription_update_confirm"):
        return f"/portal/subscriptions/{flow[kind]['subscription']}/plan"
    if kind == "payment_method_update":
        return "/portal/payment-methods"
    return "/portal"


def _openable(portal_session: PortalSession | None, now: int) -> bool:
    return (
        portal_session is not None
        and portal_session.opened_at is None
        and portal_session.url_expires_at > now
    )


@router.get("/portal/session/{secret}")
def open_session(request: Request, secret: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    by_secret = select(PortalSession).where(PortalSession.url_secret_hash == hash_token(secret))
    now = runtime.clock.now()
    with runtime.read_session() as lookup:  # an unknown or spent link never waits for the write lock
        if not _openable(lookup.scalar(by_secret), now):
            raise PortalPageError(410, "link", request_locale(request))
    with runtime.sessionmaker() as db:
        portal_session = db.scalar(by_secret.with_for_update())  # again, under the lock: opened once
        if portal_session is None or not _openable(portal_session, now):
            raise PortalPageError(410, "link", request_locale(request))
        token = new_token()
        portal_session.opened_at = now
        portal_session.browser_token_hash = hash_token(token)
        portal_session.browser_expires_at = now + BROWSER_SESSION_SECONDS
        target = landing_path(portal_session)
        db.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=BROWSER_SESSION_SECONDS,
        path="/portal",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
