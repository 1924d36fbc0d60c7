"""`/dashboard/audit`: the audit log, newest first, filtered by actor and by object (admins)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from tenure.audit.models import ActorKind, AuditEntry
from tenure.audit.service import AuditFilters, list_entries
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.roles import Capability
from tenure.dashboard.visit import StaffVisit, require

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
Auditor = Annotated[StaffVisit, Depends(require(Capability.AUDIT))]
PATH = "/dashboard/audit"
# Objects with a dashboard page of their own, by id prefix.
OBJECT_PAGES = {
    "sub": "/dashboard/subscriptions/{}",
    "cus": "/dashboard/customers/{}",
    "we": "/dashboard/webhooks/{}",
    "bpc": "/dashboard/settings/portal?configuration={}",
}


def object_link(object_id: str | None) -> str | None:
    if not object_id:
        return None
    pattern = OBJECT_PAGES.get(object_id.split("_", 1)[0])
    return pattern.format(object_id) if pattern else None


def summary_text(entry: AuditEntry) -> str:
    """One line: the fields named (a save's changes, an API request's parameters), else the details."""
    summary: dict[str, Any] = entry.summary or {}
    if summary.get("created"):
        return "created"
    for key, label in (("changed", "changed"), ("params", "parameters")):
        if key in summary:
            names = summary[key] or []
            return f"{label}: {', '.join(map(str, names))}" if names else f"no {label}"
    return ", ".join(f"{key}: {value}" for key, value in summary.items())


@router.get(PATH)
def audit_log(request: Request, visit: Auditor) -> Response:
    filters = AuditFilters.parse(request.query_params)
    found = list_entries(visit.db, filters)
    kept = {"actor": filters.actor or "", "object": filters.object_id or ""}
    next_url = (
        f"{PATH}?{urlencode({**kept, 'before': found.next_before})}"
        if found.next_before is not None
        else None
    )
    return page(
        request,
        visit,
        "dashboard/audit.html",
        {
            "entries": found.entries,
            "filters": kept,
            "filtered": bool(filters.actor or filters.object_id),
            "paged": filters.before is not None,
            "first_url": f"{PATH}?{urlencode(kept)}",
            "next_url": next_url,
            "staff_kind": ActorKind.STAFF.value,
            "object_link": object_link,
            "summary_text": summary_text,
        },
        section="audit",
    )
