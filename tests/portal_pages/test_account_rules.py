"""The account pages' rules as plain functions: no browser, no database."""

from __future__ import annotations

from tenure.payments.models import PaymentMethod
from tenure.portal.pages.billing_details import countries, read_details
from tenure.portal.pages.payment_methods import same_method
from tenure.portal.pages.switching import can_switch, prices_allowed
from tenure.subscriptions.models import Subscription, SubscriptionItem


def _card(fingerprint: str, month: int = 12, year: int = 2030) -> PaymentMethod:
    return PaymentMethod(type="card", fingerprint=fingerprint, card_exp_month=month, card_exp_year=year)


def test_the_same_card_or_paypal_login_is_the_same_method() -> None:
    assert same_method(_card("abc"), _card("abc"))
    assert not same_method(_card("abc"), _card("abc", year=2031))  # a renewed card is a new one
    assert not same_method(_card("abc"), _card("xyz"))
    paypal = PaymentMethod(type="paypal", paypal_payer_email="Ada@Example.com")
    assert same_method(paypal, PaymentMethod(type="paypal", paypal_payer_email="ada@example.com"))
    assert not same_method(paypal, _card("abc"))


def test_only_allowed_fields_are_read() -> None:
    form = {"name": "Mallory", "email": "ada@example.com", "phone": "+33 1 23 45 67 89"}
    values, errors = read_details(form, ["email"])
    assert values == {"email": "ada@example.com"} and errors == {}


def test_billing_details_problems_per_field() -> None:
    form = {"email": "", "phone": "call me", "address_line1": "1 Main St", "address_country": "zz"}
    _values, errors = read_details(form, ["email", "phone", "address"])
    assert errors == {
        "email": "required",
        "phone": "invalid",
        "address_city": "required",
        "address_country": "invalid",
    }
    cleared, no_errors = read_details({"address_country": ""}, ["address"])
    assert cleared == {"address": ""} and no_errors == {}  # every line empty: the address is removed
    assert ("DE", "Allemagne") in countries("fr") and all(len(code) == 2 for code, _ in countries("id"))


def test_which_subscriptions_can_switch() -> None:
    def subscription(status: str, *, items: int = 1, at_period_end: bool = False) -> Subscription:
        return Subscription(
            status=status,
            cancel_at_period_end=at_period_end,
            cancel_at=None,
            items=[SubscriptionItem(price_id=f"price_{n}", quantity=1) for n in range(items)],
        )

    assert can_switch(subscription("active")) and can_switch(subscription("trialing"))
    assert not can_switch(subscription("past_due"))
    assert not can_switch(subscription("active", at_period_end=True))
    assert not can_switch(subscription("active", items=2))
    assert prices_allowed({"enabled": True, "default_allowed_updates": ["price"]})
    assert not prices_allowed({"enabled": True, "default_allowed_updates": ["quantity"]})
