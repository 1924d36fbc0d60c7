"""Billing details in the portal: the customer edits only what `features.customer_update.allowed_updates`
allows (name, email, phone, address), through the customer service; anything else posted is ignored."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tenure.api.errors import TenureError
from tenure.api.params import validate
from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerUpdate, valid_email
from tenure.customers.service import update_customer
from tenure.portal.pages.rendering import page
from tenure.portal.pages.visit import Form, PortalPageError, PortalVisit, Visit, WritingVisit

router = APIRouter(include_in_schema=False)
BASE = "/portal/billing-details"
# What the portal can edit of `allowed_updates` (Tenure customers have no shipping or tax ids yet).
EDITABLE = ("name", "email", "phone", "address")
ADDRESS_PARTS = ("line1", "line2", "postal_code", "city", "state", "country")
REQUIRED_ADDRESS_PARTS = ("line1", "city", "country")
LIMITS = {"name": 256, "email": 512, "phone": 20, "address": 200}
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,19}$")
# CLDR territories that are not countries an address can be in.
_NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}


def _(message: str) -> str:
    """Marks a message for extraction; pages translate it when they render it."""
    return message


FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("name", "too_long"): _("Please enter a name of at most 256 characters."),
    ("name", "invalid"): _("Please check your name."),
    ("email", "required"): _("Please enter your email address."),
    ("email", "invalid"): _("Please enter a valid email address."),
    ("phone", "invalid"): _("Please enter a valid phone number (digits, spaces and + only)."),
    ("phone", "too_long"): _("Please enter a phone number of at most 20 characters."),
    ("address_line1", "required"): _("Please enter the street address."),
    ("address_city", "required"): _("Please enter the city."),
    ("address_country", "required"): _("Please choose the country."),
    ("address_country", "invalid"): _("Please choose the country."),
    ("address", "too_long"): _("Please keep each part of the address to at most 200 characters."),
    ("address", "invalid"): _("Please check your address."),
}


@dataclass(frozen=True)
class BillingSummary:
    """The customer's billing details as the home page shows them."""

    name: str | None
    email: str | None
    phone: str | None
    address_lines: list[str]


def allowed_fields(visit: PortalVisit) -> list[str]:
    """The editable fields, or a 404 page when the configuration lets customers edit nothing."""
    settings = visit.features.get("customer_update") or {}
    allowed = [name for name in EDITABLE if name in (settings.get("allowed_updates") or [])]
    if not settings.get("enabled", False) or not allowed:
        raise PortalPageError(404, "not_found", visit.locale)
    return allowed


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


@cache
def countries(locale: str) -> tuple[tuple[str, str], ...]:
    """(ISO code, name in `locale`) of every country, sorted by name as a reader of `locale` expects."""
    names = Locale.parse(locale).territories
    found = [(code, name) for code, name in names.items() if len(code) == 2 and code not in _NOT_COUNTRIES]
    return tuple(sorted(found, key=lambda entry: _fold(entry[1])))


def country_name(code: str | None, locale: str) -> str | None:
    if not code:
        return None
    return str(Locale.parse(locale).territories.get(code.upper(), code))


def summarize_billing(customer: Customer, locale: str) -> BillingSummary:
    address = customer.address or {}
    city_line = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    lines = [
        line
        for line in (
            address.get("line1"),
            address.get("line2"),
            city_line,
            address.get("state"),
            country_name(address.get("country"), locale),
        )
        if line
    ]
    return BillingSummary(name=customer.name, email=customer.email, phone=customer.phone, address_lines=lines)


def read_details(form: dict[str, Any], allowed: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The customer update the form asks for (allowed fields only) and the problems, per field."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    if "name" in allowed:
        values["name"] = text("name")
        if len(values["name"]) > LIMITS["name"]:
            errors["name"] = "too_long"
    if "email" in allowed:
        values["email"] = text("email")
        if not values["email"]:
            errors["email"] = "required"
        elif not valid_email(values["email"]):
            errors["email"] = "invalid"
    if "phone" in allowed:
        values["phone"] = text("phone")
        if len(values["phone"]) > LIMITS["phone"]:
            errors["phone"] = "too_long"
        elif values["phone"] and not _PHONE.match(values["phone"]):
            errors["phone"] = "invalid"
    if "address" in allowed:
        parts = {part: text(f"address_{part}") for part in ADDRESS_PARTS}
        parts["country"] = parts["country"].upper()
        if any(parts.values()):
            for part in REQUIRED_ADDRESS_PARTS:
                if not parts[part]:
                    errors[f"address_{part}"] = "required"
            if parts["country"] and parts["country"] not in dict(countries("en")):
                errors["address_country"] = "invalid"
            if any(len(value) > LIMITS["address"] for value in parts.values()):
                errors["address"] = "too_long"
            values["address"] = parts
        else:
            values["address"] = ""  # clearing every line removes the address
    return values, errors


def _form_values(customer: Customer, allowed: list[str]) -> dict[str, str]:
    address = customer.address or {}
    values: dict[str, str] = {
        name: str(getattr(customer, name) or "") for name in ("name", "email", "phone") if name in allowed
    }
    if "address" in allowed:
        values.update({f"address_{part}": str(address.get(part) or "") for part in ADDRESS_PARTS})
    return values


def _details_page(
    request: Request,
    visit: PortalVisit,
    allowed: list[str],
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    errors = errors or {}
    return page(
        request,
        visit,
        "portal/billing_details.html",
        {
            "allowed": allowed,
            "values": values,
            "errors": {field: FIELD_MESSAGES[(field, problem)] for field, problem in errors.items()},
            "first_error": next(iter(errors), None),
            "countries": countries(visit.locale),
        },
        locale=visit.locale,
        status_code=status,
    )


@router.get(BASE)
def billing_details(request: Request, visit: Visit) -> Response:
    allowed = allowed_fields(visit)
    return _details_page(request, visit, allowed, values=_form_values(visit.customer, allowed))


def _problem(error: TenureError) -> tuple[str, str]:
    """The field a refusal of the customer service concerns (`address[city]` -> the address)."""
    param = error.param or ""
    if param.startswith("address"):
        return "address", "invalid"
    return (param, "invalid") if param in ("name", "email", "phone") else ("address", "invalid")


@router.post(BASE)
def save_billing_details(request: Request, visit: WritingVisit, form: Form) -> Response:
    """Save the allowed fields; fields the configuration does not allow are ignored, whatever is posted."""
    visit.check_csrf(form)
    allowed = allowed_fields(visit)
    values, errors = read_details(form, allowed)
    if not errors:
        try:
            update_customer(
                visit.db, visit.customer.id, validate(CustomerUpdate, values), real_now=visit.real_now
            )
        except TenureError as error:
            visit.db.rollback()
            field, problem = _problem(error)
            errors = {field: problem}
    if errors:
        shown = {name: str(form.get(name) or "") for name in _form_values(visit.customer, allowed)}
        return _details_page(request, visit, allowed, values=shown, errors=errors, status=400)
    visit.db.commit()
    return RedirectResponse("/portal?notice=details_saved", status_code=303)
