"""The event types Tenure emits (a subset of Stripe's, same names)."""

from __future__ import annotations

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
        "billing_portal.session.created",
        "checkout.session.completed",
        "checkout.session.expired",
        "coupon.created",
        "coupon.deleted",
        "coupon.updated",
        "customer.created",
        "customer.deleted",
        "customer.updated",
        "customer.discount.created",
        "customer.discount.deleted",
        "customer.subscription.created",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.pending_update_applied",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "customer.subscription.updated",
        "invoice.created",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.upcoming",
        "invoice.updated",
        "invoice.voided",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "price.created",
        "price.deleted",
        "price.updated",
        "product.created",
        "product.deleted",
        "product.updated",
        "promotion_code.created",
        "promotion_code.updated",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.deleted",
        "test_helpers.test_clock.internal_failure",
        "test_helpers.test_clock.ready",
    }
)


def is_known(event_type: str) -> bool:
    """`*`, an exact type, or a Stripe-style wildcard such as `customer.subscription.*`."""
    if event_type == "*" or event_type in EVENT_TYPES:
        return True
    if event_type.endswith(".*"):
        prefix = event_type[:-1]
        return any(known.startswith(prefix) for known in EVENT_TYPES)
    return False


def matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type
