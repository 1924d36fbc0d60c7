"""The dashboard's routers, in mounting order (the catch-all 404 last)."""

from __future__ import annotations

from fastapi import APIRouter

from tenure.dashboard import (
    api_keys,
    coupons,
    customers,
    outbox,
    overview,
    portal_settings,
    signin,
    subscriptions,
    webhooks,
)


def routers() -> list[APIRouter]:
    from tenure.audit import pages as audit_pages  # the audit log lives with the audit feature
    from tenure.insights import pages as insight_pages  # the insights pages live with the insights
    from tenure.insights import winback_pages

    return [
        signin.router,
        overview.router,
        customers.router,
        subscriptions.router,
        coupons.router,
        portal_settings.router,
        webhooks.router,
        api_keys.router,
        outbox.router,
        insight_pages.router,
        winback_pages.router,
        audit_pages.router,
        overview.fallback_router,
    ]
