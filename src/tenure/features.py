"""Load every feature so its registrations happen: API routers, `expand[]` loaders, test-clock
steps, event listeners, periodic tasks. The app and the stand-alone worker both call `load()`."""

from __future__ import annotations

from fastapi import APIRouter

_loaded = False


def load() -> list[APIRouter]:
    """Import the features (once) and return their API routers in mounting order."""
    global _loaded
    from tenure.coupons.endpoints import coupons_router, promotion_codes_router
    from tenure.customers.endpoints import router as customers_router
    from tenure.events.endpoints import router as events_router
    from tenure.events.service import register_listener
    from tenure.invoices.endpoints import router as invoices_router
    from tenure.jobs.worker import register_periodic
    from tenure.payments import service as payment_methods
    from tenure.payments.endpoints import router as payment_methods_router
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
        register_listener(hooks.retry_after_payment_method_change)
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
        webhooks_router,
    ]
