"""Every dashboard page goes through `page()`: the layout's navigation shows what the role may open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from tenure.dashboard.errors import LOCALE, no_store
from tenure.dashboard.roles import Capability
from tenure.dashboard.visit import StaffVisit
from tenure.web.templating import render


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    capability: Capability


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("overview", "Overview", "/dashboard", Capability.READ),
    NavItem("customers", "Customers", "/dashboard/customers", Capability.READ),
    NavItem("subscriptions", "Subscriptions", "/dashboard/subscriptions", Capability.READ),
    NavItem("coupons", "Coupons", "/dashboard/coupons", Capability.READ),
    NavItem("insights", "Insights", "/dashboard/insights", Capability.READ),
    NavItem("sql", "SQL", "/dashboard/sql", Capability.READ),
    NavItem("settings", "Portal settings", "/dashboard/settings/portal", Capability.SETTINGS),
    NavItem("webhooks", "Webhooks", "/dashboard/webhooks", Capability.WEBHOOKS),
    NavItem("keys", "API keys", "/dashboard/api-keys", Capability.KEYS),
    NavItem("outbox", "Email outbox", "/dashboard/outbox", Capability.OUTBOX),
    NavItem("audit", "Audit log", "/dashboard/audit", Capability.AUDIT),
)


def page(
    request: Request,
    visit: StaffVisit,
    template: str,
    context: dict[str, Any],
    *,
    section: str,
    status_code: int = 200,
) -> HTMLResponse:
    response = render(
        request,
        template,
        {
            "visit": visit,
            "staff": visit.staff,
            "csrf": visit.csrf,
            "nav": [item for item in NAVIGATION if visit.can(item.capability)],
            "section": section,
            **context,
        },
        locale=LOCALE,
        status_code=status_code,
    )
    no_store(response)
    return response
