"""The overview: MRR, subscriptions by state, cancellations this month, scheduled ones, save rate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenure.dashboard.errors import DashboardError, DashboardRoute
from tenure.dashboard.metrics import overview as compute_overview
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Reader

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
# Registered last (see `tenure.dashboard.routers`): unknown dashboard paths get the dashboard's 404.
fallback_router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/dashboard")
def overview(request: Request, visit: Reader) -> Response:
    return page(
        request,
        visit,
        "dashboard/overview.html",
        {"o": compute_overview(visit.db, now=visit.now)},
        section="overview",
    )


@fallback_router.api_route("/dashboard/{path:path}", methods=["GET", "POST"])
def not_found(path: str) -> Response:
    if not path:  # "/dashboard/"
        return RedirectResponse("/dashboard", status_code=308)
    raise DashboardError(404, "not_found")
