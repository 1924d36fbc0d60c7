from __future__ import annotations

import re
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import Field, field_validator

from tenure.api.lists import ListParams, RangeFilter
from tenure.api.params import FilterTimestamp, Params
from tenure.customers.models import Customer

ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")
_INVOICE_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(value: str) -> bool:
    """Stripe's loose check: something@domain.tld, no spaces."""
    return len(value) <= 512 and _EMAIL.match(value) is not None


class AddressParams(Params):
    city: str | None = None
    country: str | None = None
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    state: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in ADDRESS_FIELDS}


class InvoiceSettingsParams(Params):
    default_payment_method: str | None = None


def normalize_locale(value: str) -> str:
    """`en-gb` -> `en-GB`, refusing anything that is not a known language (and region)."""
    match = _LOCALE.match(value)
    if match is None:
        raise ValueError(f"Invalid locale: {value}")
    language, script, region = match.groups()
    try:
        parsed = Locale.parse("_".join(part for part in (language, script, region) if part))
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"Invalid locale: {value}") from None
    # Babel falls back to a likely region for an unknown one (`en-ZZ` -> `en_US`): refuse that.
    if parsed.language != language.lower() or (region and parsed.territory != region.upper()):
        raise ValueError(f"Invalid locale: {value}")
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


class _CustomerFields(Params):
    address: AddressParams | None = None
    # Stripe's largest amount (12 digits of minor units): beyond it the balance would overflow BIGINT.
    balance: int | None = Field(default=None, ge=-999_999_999_999, le=999_999_999_999)
    description: str | None = None
    email: str | None = Field(default=None, max_length=512)
    invoice_prefix: str | None = None
    invoice_settings: InvoiceSettingsParams | None = None
    metadata: dict[str, Any] | str | None = None
    name: str | None = Field(default=None, max_length=256)
    # The column is a 32-bit INTEGER, and the sequence still grows from here.
    next_invoice_sequence: int | None = Field(default=None, ge=1, le=1_000_000_000)
    phone: str | None = Field(default=None, max_length=20)
    preferred_locales: list[str] | None = Field(default=None, max_length=10)
    tenure_marketing_opt_out: bool | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not valid_email(value):
            raise ValueError(f"Invalid email address: {value}")
        return value

    @field_validator("invoice_prefix")
    @classmethod
    def _invoice_prefix(cls, value: str | None) -> str | None:
        if value is not None and not _INVOICE_PREFIX.match(value):
            raise ValueError("Invalid invoice_prefix: use 3 to 12 uppercase letters or digits.")
        return value

    @field_validator("preferred_locales")
    @classmethod
    def _locales(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [normalize_locale(locale) for locale in value]


class CustomerCreate(_CustomerFields):
    payment_method: str | None = None
    test_clock: str | None = None


class CustomerUpdate(_CustomerFields):
    pass


class CustomerList(ListParams):
    created: FilterTimestamp | RangeFilter | None = None
    email: str | None = Field(default=None, max_length=512)
    test_clock: str | None = None


def serialize_address(address: dict[str, Any] | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {name: address.get(name) for name in ADDRESS_FIELDS}


def serialize_customer(customer: Customer) -> dict[str, Any]:
    """The full customer (also for a deleted one, as its `customer.deleted` event carries)."""
    return {
        "id": customer.id,
        "object": "customer",
        "address": serialize_address(customer.address),
        "balance": customer.balance,
        "created": customer.created,
        "currency": customer.currency,
        "default_source": None,
        "delinquent": False,
        "description": customer.description,
        "discount": None,
        "email": customer.email,
        "invoice_prefix": customer.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": customer.default_payment_method_id,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": customer.livemode,
        "metadata": dict(customer.metadata_ or {}),
        "name": customer.name,
        "next_invoice_sequence": customer.next_invoice_sequence,
        "phone": customer.phone,
        "preferred_locales": list(customer.preferred_locales or []),
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": customer.test_clock_id,
        "tenure_marketing_opt_out": customer.marketing_opt_out,
    }


def serialize_deleted_customer(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "object": "customer", "deleted": True}


def serialize_customer_or_deleted(customer: Customer) -> dict[str, Any]:
    """What retrieving a customer returns: Stripe keeps deleted customers as a stub."""
    return serialize_deleted_customer(customer) if customer.deleted else serialize_customer(customer)
