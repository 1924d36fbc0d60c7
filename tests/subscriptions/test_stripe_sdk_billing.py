"""End to end with the official SDK: customer, price, payment method, coupon, subscription, cancel."""

from __future__ import annotations

import stripe


def test_sdk_subscription_lifecycle(live_server: str, secret_key: str) -> None:
    sdk = stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)
    customer = sdk.v1.customers.create({"email": "sdk@example.com", "name": "SDK Buyer"})
    method = sdk.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    sdk.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": method.id}})
    product = sdk.v1.products.create({"name": "SDK plan"})
    price = sdk.v1.prices.create(
        {"product": product.id, "unit_amount": 1500, "currency": "usd", "recurring": {"interval": "month"}}
    )
    coupon = sdk.v1.coupons.create({"percent_off": 20, "duration": "once"})
    subscription = sdk.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "discounts": [{"coupon": coupon.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.status == "active"
    invoice = subscription.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert invoice.total == 1200
    scheduled = sdk.v1.subscriptions.update(
        subscription.id,
        {
            "cancel_at_period_end": True,
            "cancellation_details": {"feedback": "switched_service", "comment": "Moving on"},
        },
    )
    assert scheduled.cancel_at_period_end is True
    assert scheduled.cancellation_details is not None
    assert scheduled.cancellation_details.feedback == "switched_service"
    canceled = sdk.v1.subscriptions.cancel(
        subscription.id, {"cancellation_details": {"feedback": "switched_service"}, "prorate": True}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_details is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    listed = sdk.v1.subscriptions.list({"customer": customer.id, "status": "all"})
    assert [s.id for s in listed.data] == [subscription.id]
