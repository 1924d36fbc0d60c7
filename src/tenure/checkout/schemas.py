"""Parameters and the wire shape of `checkout.session` (Stripe's, in subscription mode)."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field, field_validator

from tenure.api.lists import ListParams, RangeFilter
from tenure.api.params import FilterTimestamp, Params, Timestamp
from tenure.checkout.models import CheckoutSession, CheckoutStatus
from tenure.customers.schemas import valid_email
from tenure.portal.fields import HttpUrl
from tenure.portal.session_schemas import STRIPE_LOCALES

MethodType = Literal["card", "sepa_debit", "paypal"]
METHOD_TYPES: tuple[str, ...] = ("card", "sepa_debit", "paypal")
# The `{CHECKOUT_SESSION_ID}` template variable of `success_url`, replaced when redirecting.
SESSION_ID_TEMPLATE = "{CHECKOUT_SESSION_ID}"


class LineItemParams(Params):
    price: str | None = None
    # Stripe asks for it; Tenure takes 1 when it is left out.
    quantity: int | None = Field(default=None, ge=1, le=10_000_000)
    # Ad-hoc prices are refused with a clear message (create a Price first).
    price_data: Any = None


class SubscriptionDataParams(Params):
    trial_period_days: int | None = Field(default=None, ge=1, le=730)
    trial_end: Timestamp | None = None
    description: str | None = Field(default=None, max_length=500)
    metadata: Any = None


class CheckoutDiscountParams(Params):
    coupon: str | None = None
    promotion_code: str | None = None


class CheckoutSessionCreate(Params):
    mode: Literal["payment", "setup", "subscription"]
    line_items: list[LineItemParams] | None = Field(default=None, max_length=20)
    customer: str | None = None
    customer_email: str | None = Field(default=None, max_length=512)
    client_reference_id: str | None = Field(default=None, max_length=200)
    success_url: HttpUrl | None = None
    cancel_url: HttpUrl | None = None
    allow_promotion_codes: bool | None = None
    discounts: list[CheckoutDiscountParams] | None = Field(default=None, max_length=1)
    locale: str | None = None
    subscription_data: SubscriptionDataParams | None = None
    payment_method_types: list[MethodType] | None = Field(default=None, min_length=1, max_length=3)
    expires_at: Timestamp | None = None
    metadata: Any = None

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not valid_email(value):
            raise ValueError(f"Invalid email address: {value}")
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is not None and value not in STRIPE_LOCALES:
            raise ValueError(f"Invalid locale: {value!r} is not a supported Checkout locale.")
        return value


class CheckoutSessionList(ListParams):
    customer: str | None = None
    status: Literal["open", "complete", "expired"] | None = None
    subscription: str | None = None
    created: FilterTimestamp | RangeFilter | None = None


class CheckoutSessionExpire(Params):
    pass


class CheckoutSessionUpdate(Params):
    metadata: Any = None


def hosted_url(base_url: str, checkout: CheckoutSession) -> str:
    return f"{base_url.rstrip('/')}/checkout/{checkout.id}"


def success_redirect(checkout: CheckoutSession) -> str | None:
    """Where the customer goes after completing: `success_url` with the session id filled in."""
    if checkout.success_url is None:
        return None
    return checkout.success_url.replace(SESSION_ID_TEMPLATE, checkout.id)


def serialize_checkout_session(checkout: CheckoutSession, *, base_url: str) -> dict[str, Any]:
    """The session with every field of Stripe's object; `url` only while it can be completed."""
    is_open = checkout.status == CheckoutStatus.OPEN
    return {
        "id": checkout.id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": checkout.allow_promotion_codes,
        "amount_subtotal": checkout.amount_subtotal,
        "amount_total": checkout.amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": checkout.cancel_url,
        "client_reference_id": checkout.client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": checkout.created,
        "currency": checkout.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": checkout.customer_id,
        "customer_account": None,
        "customer_creation": None,
        "customer_details": copy.deepcopy(checkout.customer_details),
        "customer_email": checkout.customer_email,
        "discounts": copy.deepcopy(checkout.discounts),
        "expires_at": checkout.expires_at,
        "integration_identifier": None,
        "invoice": checkout.invoice_id,
        "invoice_creation": None,
        "livemode": checkout.livemode,
        "locale": checkout.locale,
        "managed_payments": None,
        "metadata": dict(checkout.metadata_ or {}),
        "mode": checkout.mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": list(checkout.payment_method_types),
        "payment_status": checkout.payment_status,
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": checkout.status,
        "submit_type": None,
        "subscription": checkout.subscription_id,
        "success_url": checkout.success_url,
        "total_details": {
            "amount_discount": checkout.amount_discount,
            "amount_shipping": 0,
            "amount_tax": 0,
        },
        "ui_mode": "hosted",
        "url": hosted_url(base_url, checkout) if is_open else None,
        "wallet_options": None,
        # Tenure: the canceled subscription a returning customer's checkout brought back.
        "tenure_reactivation_of": checkout.reactivation_of,
    }


def serialize_line_item(
    checkout: CheckoutSession, index: int, *, price: dict[str, Any], description: str
) -> dict[str, Any]:
    """One `item` of `GET /v1/checkout/sessions/{id}/line_items` (its id is stable per session and index)."""
    quantity = int(checkout.line_items[index]["quantity"])
    amount = int(price.get("unit_amount") or 0) * quantity
    return {
        "id": f"li_{checkout.id[3:27]}{index:02d}",
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": checkout.currency,
        "description": description,
        "price": price,
        "quantity": quantity,
    }
