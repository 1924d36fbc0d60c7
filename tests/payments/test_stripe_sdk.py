"""Customers and payment methods through the official `stripe` SDK against a real Tenure server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


def test_customer_with_payment_methods(sdk: stripe.StripeClient) -> None:
    customer = sdk.v1.customers.create(
        {
            "email": "jenny@example.com",
            "name": "Jenny Rosen",
            "preferred_locales": ["fr", "en"],
            "address": {"city": "Paris", "country": "FR"},
            "metadata": {"source": "sdk"},
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    assert isinstance(customer, stripe.Customer)
    assert customer.address is not None and customer.address.city == "Paris"
    default = customer.invoice_settings.default_payment_method
    assert isinstance(default, str) and default.startswith("pm_")

    sepa = sdk.v1.payment_methods.create(
        {
            "type": "sepa_debit",
            "sepa_debit": {"iban": "DE89370400440532013000"},
            "billing_details": {"name": "J"},
        }
    )
    attached = sdk.v1.payment_methods.attach(sepa.id, {"customer": customer.id})
    assert isinstance(attached, stripe.PaymentMethod)
    assert attached.customer == customer.id
    assert attached.sepa_debit is not None and attached.sepa_debit.last4 == "3000"

    listed = sdk.v1.payment_methods.list({"customer": customer.id})
    assert [pm.id for pm in listed.data] == [sepa.id, default]
    cards = sdk.v1.customers.payment_methods.list(customer.id, {"type": "card"})
    assert [pm.id for pm in cards.data] == [default]
    assert cards.data[0].card is not None and cards.data[0].card.last4 == "4242"

    expanded = sdk.v1.customers.retrieve(customer.id, {"expand": ["invoice_settings.default_payment_method"]})
    assert isinstance(expanded.invoice_settings.default_payment_method, stripe.PaymentMethod)

    sdk.v1.payment_methods.detach(default)
    assert sdk.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method is None

    with pytest.raises(stripe.CardError) as declined:
        sdk.v1.payment_methods.create(
            {"type": "card", "card": {"number": "4000000000000002", "exp_month": 12, "exp_year": NEXT_YEAR}}
        )
    assert (declined.value.code, declined.value.http_status) == ("card_declined", 402)
    assert declined.value.error is not None and declined.value.error.decline_code == "generic_decline"
    with pytest.raises(stripe.InvalidRequestError) as taken:
        sdk.v1.payment_methods.attach(sepa.id, {"customer": sdk.v1.customers.create().id})
    assert taken.value.http_status == 400

    deleted = sdk.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert sdk.v1.customers.retrieve(customer.id).deleted is True
