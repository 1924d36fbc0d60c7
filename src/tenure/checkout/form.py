"""The hosted form's fields: read, checked, and turned into a `Submission` (plain rules, no database).

Errors are codes per field (`{"card_number": "required"}`); the template words them in the
customer's language. Card numbers, security codes and IBANs are never echoed back into a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tenure.api.errors import CardError, TenureError
from tenure.checkout.complete import PaymentDetails, Submission
from tenure.customers.schemas import valid_email

MAX_NAME = 256
MAX_CODE = 500
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*$")
_SEPARATORS = re.compile(r"[\s-]")

# Where a processor or billing error belongs on the form: by the parameter it names.
_PARAM_FIELDS = {
    "card[number]": "card_number",
    "card[exp_month]": "card_expiry",
    "card[exp_year]": "card_expiry",
    "card[cvc]": "card_cvc",
    "sepa_debit[iban]": "iban",
    "paypal[payer_email]": "paypal_email",
    "promotion_code": "promotion_code",
}
_CARD_CODES = {
    "invalid_number": "invalid",
    "incorrect_number": "incorrect",
    "invalid_expiry_month": "invalid",
    "invalid_expiry_year": "invalid",
    "invalid_cvc": "invalid",
}
# A refused payment shows next to the field of the method that was refused.
_DECLINE_FIELDS = {"card": "card_number", "sepa_debit": "iban"}


@dataclass
class FormValues:
    """What the page shows back: everything typed except card numbers, security codes and IBANs."""

    email: str = ""
    name: str = ""
    method: str = ""
    card_expiry: str = ""
    paypal_email: str = ""
    applied_code: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _text(form: dict[str, Any], name: str) -> str:
    return str(form.get(name) or "").strip()


def read_values(form: dict[str, Any], *, methods: list[str], locked_email: str | None) -> FormValues:
    """The safe-to-show fields, checked: `errors` holds one code per bad field."""
    values = FormValues(
        email=locked_email or _text(form, "email"),
        name=_text(form, "name"),
        method=_text(form, "method") or (methods[0] if len(methods) == 1 else ""),
        card_expiry=_text(form, "card_expiry")[:10],
        paypal_email=_text(form, "paypal_email")[:512],
        applied_code=_text(form, "applied_code")[:MAX_CODE],
    )
    if not values.email:
        values.errors["email"] = "required"
    elif not valid_email(values.email):
        values.errors["email"] = "invalid"
    if not values.name:
        values.errors["name"] = "required"
    elif len(values.name) > MAX_NAME:
        values.errors["name"] = "too_long"
    if values.method not in methods:
        values.errors["method"] = "required"
    return values


def _card(form: dict[str, Any], errors: dict[str, str]) -> PaymentDetails:
    number = _SEPARATORS.sub("", _text(form, "card_number"))
    if not number:
        errors["card_number"] = "required"
    elif not number.isdigit() or not 12 <= len(number) <= 19:
        errors["card_number"] = "invalid"
    expiry = _text(form, "card_expiry")
    match = _EXPIRY.match(expiry)
    if not expiry:
        errors["card_expiry"] = "required"
    elif match is None or not 1 <= int(match.group(1)) <= 12:
        errors["card_expiry"] = "invalid"
    cvc = _text(form, "card_cvc")
    if not cvc:
        errors["card_cvc"] = "required"
    elif not cvc.isdigit() or not 3 <= len(cvc) <= 4:
        errors["card_cvc"] = "invalid"
    month = int(match.group(1)) if match else None
    year = int(match.group(2)) if match else None
    return PaymentDetails(type="card", card_number=number, exp_month=month, exp_year=year, cvc=cvc)


def _sepa_debit(form: dict[str, Any], errors: dict[str, str]) -> PaymentDetails:
    iban = _SEPARATORS.sub("", _text(form, "iban")).upper()
    if not iban:
        errors["iban"] = "required"
    elif len(iban) > 34:
        errors["iban"] = "invalid"
    return PaymentDetails(type="sepa_debit", iban=iban)


def _paypal(values: FormValues, errors: dict[str, str]) -> PaymentDetails:
    payer = values.paypal_email or values.email
    if values.paypal_email and not valid_email(values.paypal_email):
        errors["paypal_email"] = "invalid"
    return PaymentDetails(type="paypal", payer_email=payer)


def read_submission(form: dict[str, Any], values: FormValues, *, locale: str) -> Submission | None:
    """The whole submission, or None when a field is missing or malformed (codes in `values.errors`)."""
    errors = values.errors
    if values.method == "card":
        payment = _card(form, errors)
    elif values.method == "sepa_debit":
        payment = _sepa_debit(form, errors)
    else:
        payment = _paypal(values, errors)
    if errors:
        return None
    return Submission(
        email=values.email,
        name=values.name,
        payment=payment,
        promotion_code=values.applied_code or None,
        locale=locale,
    )


def error_fields(exc: TenureError, *, method: str) -> dict[str, str]:
    """Where a refusal from the processor or from billing shows on the form, and as what."""
    target = _PARAM_FIELDS.get(exc.param or "")
    if target == "promotion_code":
        return {"promotion_code": "invalid"}
    if target is not None:
        if exc.code in ("card_declined",):
            return {target: "declined"}
        return {target: _CARD_CODES.get(exc.code or "", "invalid")}
    if isinstance(exc, CardError):
        return {_DECLINE_FIELDS.get(method, "form"): "declined"}
    if (exc.param or "").startswith(("discounts", "coupon")):  # used up since it was applied
        return {"promotion_code": "invalid"}
    return {"form": "failed"}
