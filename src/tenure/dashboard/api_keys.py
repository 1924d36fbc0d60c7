"""Secret API keys: create (the secret is shown once), roll (with a grace period), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.dashboard.actions import record_action
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, KeysAdmin, StaffVisit
from tenure.keys.models import ApiKey
from tenure.keys.service import create_key, get_key, revoke_key, roll_key

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
MAX_NAME = 200
# How long a rolled key keeps working, so that deployments can switch to the new one.
GRACE_PERIODS: dict[str, tuple[int, str]] = {
    "0": (0, "now"),
    "3600": (3600, "in 1 hour"),
    "86400": (86400, "in 24 hours"),
    "604800": (604800, "in 7 days"),
}


def _page(
    request: Request, visit: StaffVisit, *, shown: tuple[ApiKey, str] | None = None, notice: str | None = None
) -> Response:
    keys = list(visit.db.scalars(select(ApiKey).order_by(ApiKey.pk.desc()).limit(200)))
    return page(
        request,
        visit,
        "dashboard/api_keys.html",
        {"keys": keys, "shown": shown, "notice": notice, "now": visit.now, "grace": GRACE_PERIODS},
        section="keys",
    )


def _active_key(visit: StaffVisit, key_id: str) -> ApiKey:
    key = get_key(visit.db, key_id)
    if key is None:
        raise ResourceMissing("API key", key_id)
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= visit.now):
        raise InvalidRequest("This key no longer works: it cannot be rolled or revoked.", param="id")
    return key


@router.get("/dashboard/api-keys")
def keys(request: Request, visit: KeysAdmin, notice: str = "") -> Response:
    return _page(request, visit, notice="The key was revoked." if notice == "revoked" else None)


@router.post("/dashboard/api-keys")
def create(request: Request, visit: KeysAdmin, form: Form) -> Response:
    visit.check_csrf(form)
    key, secret = create_key(visit.db, now=visit.now, name=form.get("name").strip()[:MAX_NAME] or None)
    record_action(
        visit.db, visit.staff, action="api_key.create", object_id=key.id, at=visit.now, now=visit.now
    )
    visit.db.commit()
    # Shown on this answer only (never stored in clear): no redirect, and the page is not cached.
    return _page(request, visit, shown=(key, secret))


@router.post("/dashboard/api-keys/{key_id}/roll")
def roll(request: Request, visit: KeysAdmin, form: Form, key_id: str) -> Response:
    visit.check_csrf(form)
    key = _active_key(visit, key_id)
    grace, _label = GRACE_PERIODS.get(form.get("expire_in"), GRACE_PERIODS["0"])
    new_key, secret = roll_key(visit.db, key, now=visit.now, expire_in=grace)
    record_action(
        visit.db,
        visit.staff,
        action="api_key.roll",
        object_id=key.id,
        at=visit.now,
        now=visit.now,
        details={"new_key": new_key.id, "expire_in": grace},
    )
    visit.db.commit()
    return _page(request, visit, shown=(new_key, secret))


@router.post("/dashboard/api-keys/{key_id}/revoke")
def revoke(visit: KeysAdmin, form: Form, key_id: str) -> Response:
    visit.check_csrf(form)
    key = _active_key(visit, key_id)
    revoke_key(key, now=visit.now)
    record_action(
        visit.db, visit.staff, action="api_key.revoke", object_id=key.id, at=visit.now, now=visit.now
    )
    visit.db.commit()
    return RedirectResponse("/dashboard/api-keys?notice=revoked", status_code=303)
