"""Every portal page goes through `page()`: branding, return link and footer links in the layout."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from tenure.portal.pages.visit import PortalVisit
from tenure.web.templating import render

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def layout(visit: PortalVisit | None) -> dict[str, Any]:
    if visit is None:
        return {
            "brand_name": "Billing",
            "logo_url": None,
            "accent": None,
            "return_url": None,
            "privacy_url": None,
            "terms_url": None,
        }
    branding = visit.extensions.get("branding") or {}
    profile = visit.configuration.business_profile or {}
    accent = branding.get("accent_color")
    return {
        "brand_name": branding.get("name") or profile.get("headline") or "Billing",
        "logo_url": branding.get("logo_url"),
        # Only a plain #rrggbb reaches the <style> block, whatever the store holds.
        "accent": accent if isinstance(accent, str) and _COLOUR.match(accent) else None,
        "return_url": visit.return_url,
        "privacy_url": profile.get("privacy_policy_url"),
        "terms_url": profile.get("terms_of_service_url"),
    }


def page(
    request: Request,
    visit: PortalVisit | None,
    template: str,
    context: dict[str, Any],
    *,
    locale: str,
    status_code: int = 200,
) -> HTMLResponse:
    response = render(
        request,
        template,
        {**layout(visit), "visit": visit, **context},
        locale=locale,
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
