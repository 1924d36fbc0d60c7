"""Load every feature so its registrations happen: API routers, `expand[]` loaders, test-clock
steps, periodic tasks. The app and the stand-alone worker both call `load()`. The event log's
consumers are not registered: they are listed in `tenure.consumers`."""

from __future__ import annotations

from fastapi import APIRouter

_loaded = False


def load() -> list[APIRouter]:
    """Import the features (once) and return their API routers in mounting order."""
    global _loaded
    from tenure.checkout import pages as checkout_pages
    from tenure.checkout.endpoints import router as checkout_router
    from tenure.checkout.service import run_expiry as expire_checkout_sessions
    from tenure.coupons.endpoints import coupons_router, promotion_codes_router
    from tenure.customers.endpoints import router as customers_router
    from tenure.dashboard.routes import routers as dashboard_routers
    from tenure.events.endpoints import router as events_router
    from tenure.insights.endpoints import router as insights_router
    from tenure.invoices.endpoints import router as invoices_router
    from tenure.jobs.worker import register_periodic
    from tenure.notifications import pages as notification_pages
    from tenure.notifications import setup as notifications
    from tenure.notifications.endpoints import campaigns_router as email_campaigns_router
    from tenure.notifications.endpoints import messages_router as email_messages_router
    from tenure.payments import service as payment_methods
    from tenure.payments.endpoints import router as payment_methods_router
    from tenure.portal.endpoints import configurations_router as portal_configurations_router
    from tenure.portal.endpoints import sessions_router as portal_sessions_router
    from tenure.portal.pages import billing_details as portal_billing_details
    from tenure.portal.pages import cancel as portal_cancel
    from tenure.portal.pages import home as portal_home
    from tenure.portal.pages import login as portal_login
    from tenure.portal.pages import opening as portal_opening
    from tenure.portal.pages import payment_methods as portal_payment_methods
    from tenure.portal.pages import plan as portal_plan
    from tenure.prices.endpoints import router as prices_router
    from tenure.products.endpoints import router as products_router
    from tenure.subscriptions import hooks
    from tenure.subscriptions.endpoints import router as subscriptions_router
    from tenure.subscriptions.renew import run_billing
    from tenure.testclocks.endpoints import router as test_clocks_router
    from tenure.webhooks import delivery as _webhook_delivery  # noqa: F401  (registers the delivery pass)
    from tenure.webhooks.endpoints import router as webhooks_router

    if not _loaded:
        register_periodic(run_billing)
        register_periodic(expire_checkout_sessions)
        notifications.register()
        if hooks.refuse_detaching_default_of_owing_customer not in payment_methods.DETACH_GUARDS:
            payment_methods.DETACH_GUARDS.append(hooks.refuse_detaching_default_of_owing_customer)
        _loaded = True
    return [
        test_clocks_router,
        events_router,
        customers_router,
        payment_methods_router,
        products_router,
        prices_router,
        coupons_router,
        promotion_codes_router,
        subscriptions_router,
        invoices_router,
        checkout_router,
        insights_router,
        portal_configurations_router,
        portal_sessions_router,
        webhooks_router,
        email_messages_router,
        email_campaigns_router,
        portal_opening.router,
        portal_home.router,
        portal_cancel.router,
        portal_payment_methods.router,
        portal_billing_details.router,
        portal_plan.router,
        portal_login.router,
        notification_pages.router,
        checkout_pages.router,
        *dashboard_routers(),
    ]
