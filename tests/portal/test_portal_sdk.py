"""Portal configurations and deep-linked sessions through the official `stripe` SDK against a real server."""

from __future__ import annotations

import pytest
import stripe

from tenure.runtime import Runtime


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


def test_portal_with_the_sdk(sdk: stripe.StripeClient, runtime: Runtime) -> None:
    customer = sdk.v1.customers.create({"email": "portal@example.com"})
    sdk.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    method = sdk.v1.payment_methods.list({"customer": customer.id}).data[0]
    sdk.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": method.id}})
    product = sdk.v1.products.create({"name": "Portal plan"})
    price = sdk.v1.prices.create(
        {"product": product.id, "unit_amount": 900, "currency": "eur", "recurring": {"interval": "month"}}
    )
    subscription = sdk.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    coupon = sdk.v1.coupons.create({"percent_off": 50, "duration": "repeating", "duration_in_months": 2})

    configuration = sdk.v1.billing_portal.configurations.create(
        {
            "business_profile": {"headline": "Acme billing", "privacy_policy_url": "https://example.com/p"},
            "features": {
                "invoice_history": {"enabled": True},
                "subscription_cancel": {
                    "enabled": True,
                    "mode": "at_period_end",
                    "cancellation_reason": {"enabled": True, "options": ["too_expensive", "unused", "other"]},
                },
            },
            "default_return_url": "https://example.com/account",
        }
    )
    assert isinstance(configuration, stripe.billing_portal.Configuration)
    assert configuration.is_default is True
    cancel = configuration.features.subscription_cancel
    assert (cancel.enabled, cancel.mode, cancel.proration_behavior) == (True, "at_period_end", "none")
    assert cancel.cancellation_reason.options == ["too_expensive", "unused", "other"]
    assert configuration.business_profile.headline == "Acme billing"

    renamed = sdk.v1.billing_portal.configurations.update(configuration.id, {"name": "Main"})
    assert renamed.name == "Main"
    assert renamed.features.invoice_history.enabled is True
    assert sdk.v1.billing_portal.configurations.retrieve(configuration.id).name == "Main"
    listed = sdk.v1.billing_portal.configurations.list({"is_default": True})
    assert [c.id for c in listed.data] == [configuration.id]

    portal = sdk.v1.billing_portal.sessions.create(
        {
            "customer": customer.id,
            "flow_data": {
                "type": "subscription_cancel",
                "subscription_cancel": {
                    "subscription": subscription.id,
                    "retention": {"type": "coupon_offer", "coupon_offer": {"coupon": coupon.id}},
                },
                "after_completion": {
                    "type": "hosted_confirmation",
                    "hosted_confirmation": {"custom_message": "Thanks for staying with us."},
                },
            },
        }
    )
    assert isinstance(portal, stripe.billing_portal.Session)
    assert portal.url.startswith(f"{runtime.settings.public_base_url}/portal/session/")
    assert (portal.customer, portal.configuration) == (customer.id, configuration.id)
    assert portal.return_url == "https://example.com/account"
    flow = portal.flow
    assert flow is not None and flow.type == "subscription_cancel"
    assert flow.subscription_cancel is not None
    assert flow.subscription_cancel.subscription == subscription.id
    assert flow.subscription_cancel.retention is not None
    assert flow.subscription_cancel.retention.coupon_offer is not None
    assert flow.subscription_cancel.retention.coupon_offer.coupon == coupon.id
    assert flow.after_completion.hosted_confirmation is not None
    assert flow.after_completion.hosted_confirmation.custom_message == "Thanks for staying with us."

    with pytest.raises(stripe.InvalidRequestError) as foreign:
        other = sdk.v1.customers.create({"email": "other@example.com"})
        sdk.v1.billing_portal.sessions.create(
            {
                "customer": other.id,
                "flow_data": {
                    "type": "subscription_cancel",
                    "subscription_cancel": {"subscription": subscription.id},
                },
            }
        )
    assert foreign.value.param == "flow_data[subscription_cancel][subscription]"
    with pytest.raises(stripe.InvalidRequestError) as prorations:
        sdk.v1.billing_portal.configurations.create(
            {
                "features": {
                    "subscription_cancel": {"enabled": True, "proration_behavior": "create_prorations"}
                }
            }
        )
    assert prorations.value.param == "features[subscription_cancel][proration_behavior]"
