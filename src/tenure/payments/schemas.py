from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.customers.schemas import AddressParams, serialize_address, valid_email
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import PaymentMethodType

TypeParam = Literal["card", "sepa_debit", "paypal"]


def _digits_as_text(value: Any) -> Any:
    # JSON bodies may send a card number or CVC as a number; the processor reads text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CardParams(Params):
    number: str | None = Field(default=None, max_length=30)
    exp_month: int | None = None
    exp_year: int | None = None
    cvc: str | None = Field(default=None, max_length=4)
    token: str | None = Field(default=None, max_length=100)

    @field_validator("number", "cvc", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _digits_as_text(value)


class SepaDebitParams(Params):
    iban: str | None = Field(default=None, max_length=50)


class PaypalParams(Params):
    """A Tenure extension: Stripe has no raw PayPal details (they come from a redirect)."""

    payer_email: str | None = None


class BillingDetailsParams(Params):
    address: AddressParams | None = None
    email: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, max_length=256)
    phone: str | None = Field(default=None, max_length=20)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not valid_email(value):
            raise ValueError(f"Invalid email address: {value}")
        return value


class PaymentMethodCreate(Params):
    type: TypeParam
    card: CardParams | None = None
    sepa_debit: SepaDebitParams | None = None
    paypal: PaypalParams | None = None
    billing_details: BillingDetailsParams | None = None
    metadata: dict[str, Any] | str | None = None


class CardUpdateParams(Params):
    exp_month: int | None = None
    exp_year: int | None = None


class PaymentMethodUpdate(Params):
    billing_details: BillingDetailsParams | None = None
    card: CardUpdateParams | None = None
    metadata: dict[str, Any] | str | None = None


class PaymentMethodAttach(Params):
    customer: str


class PaymentMethodDetach(Params):
    pass


class PaymentMethodList(ListParams):
    customer: str | None = None
    type: TypeParam | None = None


class CustomerPaymentMethodList(ListParams):
    type: TypeParam | None = None


EMPTY_BILLING_DETAILS: dict[str, Any] = {"address": None, "email": None, "name": None, "phone": None}

# Stripe's `display_brand` spells some networks out.
_DISPLAY_BRANDS = {
    "amex": "american_express",
    "diners": "diners_club",
    "unionpay": "union_pay",
    "unknown": "other",
}


def _card(pm: PaymentMethod) -> dict[str, Any]:
    brand = pm.card_brand or "unknown"
    return {
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
        "country": pm.card_country,
        "display_brand": _DISPLAY_BRANDS.get(brand, brand),
        "exp_month": pm.card_exp_month,
        "exp_year": pm.card_exp_year,
        "fingerprint": pm.fingerprint,
        "funding": pm.card_funding,
        "generated_from": None,
        "last4": pm.card_last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": None,
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def _sepa_debit(pm: PaymentMethod) -> dict[str, Any]:
    return {
        "bank_code": pm.sepa_bank_code,
        "branch_code": None,
        "country": pm.sepa_country,
        "fingerprint": pm.fingerprint,
        "generated_from": {"charge": None, "setup_attempt": None},
        "last4": pm.sepa_last4,
    }


def _paypal(pm: PaymentMethod) -> dict[str, Any]:
    return {"country": None, "payer_email": pm.paypal_payer_email, "payer_id": None}


_DETAILS = {
    PaymentMethodType.CARD: _card,
    PaymentMethodType.SEPA_DEBIT: _sepa_debit,
    PaymentMethodType.PAYPAL: _paypal,
}


def serialize_billing_details(details: dict[str, Any] | None) -> dict[str, Any]:
    stored = {**EMPTY_BILLING_DETAILS, **(details or {})}
    return {
        "address": serialize_address(stored["address"] or {}),
        "email": stored["email"],
        "name": stored["name"],
        "phone": stored["phone"],
        "tax_id": None,
    }


def serialize_payment_method(pm: PaymentMethod) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pm.id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": serialize_billing_details(pm.billing_details),
        "created": pm.created,
        "customer": pm.customer_id,
        "customer_account": None,
        "livemode": pm.livemode,
        "metadata": dict(pm.metadata_ or {}),
        "type": pm.type,
    }
    body[pm.type] = _DETAILS[PaymentMethodType(pm.type)](pm)
    return body
