"""Payment methods in the portal: list; add a card, a SEPA account or PayPal (optionally as the
default, in the same step); make one the default; remove one.

Card numbers and IBANs go straight to the payment processor: only what it returns (brand, last
four digits, a keyed fingerprint) is stored, and no page ever shows a submitted number again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.api.errors import TenureError
from tenure.api.params import validate
from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerUpdate, InvoiceSettingsParams
from tenure.customers.service import update_customer
from tenure.invoices.models import Invoice, InvoiceStatus
from tenure.payments import service as payment_methods
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import get_processor
from tenure.payments.schemas import PaymentMethodCreate
from tenure.portal.pages.rendering import page
from tenure.portal.pages.visit import Form, PortalPageError, PortalVisit, Visit, WritingVisit
from tenure.subscriptions.models import Subscription, SubscriptionStatus

router = APIRouter(include_in_schema=False)
BASE = "/portal/payment-methods"
KINDS = ("card", "sepa_debit", "paypal")
NOTICES = ("added", "added_default", "default", "removed", "exists")
OWING = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE)
# The guard of `tenure.subscriptions.hooks` refusing to detach the default of a customer who owes.
IN_USE = "payment_method_in_use"

BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


def _(message: str) -> str:
    """Marks a message for extraction; pages translate it when they render it."""
    return message


# What the customer reads next to a field: (field, problem) -> message. Only these texts reach
# the page, never the processor's own (English) messages.
FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("card_number", "required"): _("Please enter your card number."),
    ("card_number", "invalid"): _("This is not a valid card number."),
    ("card_number", "incorrect"): _("This card number is incorrect. Please check it."),
    ("card_number", "declined"): _("Your card was declined. Please use another card."),
    ("card_expiry", "required"): _("Please enter the expiry month and year."),
    ("card_expiry", "invalid"): _("Please enter a valid expiry date that has not passed."),
    ("card_cvc", "required"): _("Please enter the security code."),
    ("card_cvc", "invalid"): _("The security code is 3 digits (4 on American Express cards)."),
    ("iban", "required"): _("Please enter your IBAN."),
    ("iban", "invalid"): _("This IBAN is not valid. Please check the country code and the digits."),
    ("account_holder", "required"): _("Please enter the account holder's name."),
    ("account_holder", "invalid"): _("Please enter a name of at most 256 characters."),
    ("payer_email", "required"): _("Please enter your PayPal email address."),
    ("payer_email", "invalid"): _("Please enter a valid email address."),
    ("form", "invalid"): _("This payment method could not be added. Please check the details."),
}
# The form field behind each parameter the payment-method service names in its errors.
PARAM_FIELDS = {
    "card[number]": "card_number",
    "card[exp_month]": "card_expiry",
    "card[exp_year]": "card_expiry",
    "card[cvc]": "card_cvc",
    "sepa_debit[iban]": "iban",
    "billing_details[name]": "account_holder",
    "paypal[payer_email]": "payer_email",
}
REQUIRED = {
    "card": (("card_number",), ("card_exp_month", "card_exp_year"), ("card_cvc",)),
    "sepa_debit": (("iban",), ("account_holder",)),
    "paypal": (("payer_email",),),
}
# Fields that may be shown again after an error: never a card number, CVC or IBAN.
KEPT = ("card_exp_month", "card_exp_year", "account_holder", "payer_email")


@dataclass(frozen=True)
class MethodView:
    id: str
    type: str
    label: str | None  # "Visa" …; None for a card of an unknown network
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    email: str | None
    default: bool


@dataclass(frozen=True)
class Overdue:
    amount: int
    currency: str


def _enabled(visit: PortalVisit) -> None:
    if not (visit.features.get("payment_method_update") or {}).get("enabled", False):
        raise PortalPageError(404, "not_found", visit.locale)


def _deep_link(visit: PortalVisit) -> dict[str, Any] | None:
    flow = visit.portal_session.flow or {}
    return flow if flow.get("type") == "payment_method_update" else None


def _view(method: PaymentMethod, customer: Customer) -> MethodView:
    return MethodView(
        id=method.id,
        type=method.type,
        label=BRANDS.get(method.card_brand or ""),
        last4=method.card_last4 if method.type == "card" else method.sepa_last4,
        exp_month=method.card_exp_month,
        exp_year=method.card_exp_year,
        email=method.paypal_payer_email,
        default=method.id == customer.default_payment_method_id,
    )


def _methods(visit: PortalVisit) -> list[PaymentMethod]:
    return list(
        visit.db.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == visit.customer.id)
            .order_by(PaymentMethod.pk)
        )
    )


def _lock_customer(visit: PortalVisit) -> Customer:
    """The customer row, locked and re-read: a double-clicked form waits here for the first
    submission and then sees what it did."""
    customer = visit.db.scalar(
        select(Customer)
        .where(Customer.id == visit.customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise PortalPageError(401, "session", visit.locale)
    return customer


def _own_method(visit: PortalVisit, payment_method_id: str, *, for_update: bool = False) -> PaymentMethod:
    """One of the customer's attached methods; anyone else's (or none) is a 404 page."""
    stmt = select(PaymentMethod).where(
        PaymentMethod.id == payment_method_id, PaymentMethod.customer_id == visit.customer.id
    )
    method = visit.db.scalar(stmt.with_for_update() if for_update else stmt)
    if method is None:
        raise PortalPageError(404, "not_found", visit.locale)
    return method


def _overdue(visit: PortalVisit) -> list[Overdue]:
    """What the customer owes on subscriptions in dunning (the retries a new default will pay)."""
    owing = []
    for subscription in visit.db.scalars(
        select(Subscription).where(
            Subscription.customer_id == visit.customer.id, Subscription.status.in_(OWING)
        )
    ):
        invoice = visit.db.scalar(
            select(Invoice).where(
                Invoice.id == subscription.latest_invoice_id, Invoice.status == InvoiceStatus.OPEN
            )
        )
        if invoice is not None and invoice.amount_remaining > 0:
            owing.append(Overdue(amount=invoice.amount_remaining, currency=invoice.currency))
    return owing


def _list_page(
    request: Request,
    visit: PortalVisit,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    kind: str | None = None,
    kept: dict[str, str] | None = None,
    make_default: bool = True,
    refusal: str | None = None,
    status: int = 200,
) -> Response:
    errors = errors or {}
    after = (_deep_link(visit) or {}).get("after_completion") or {}
    return page(
        request,
        visit,
        "portal/payment_methods.html",
        {
            "methods": [_view(method, visit.customer) for method in _methods(visit)],
            "overdue": _overdue(visit),
            "notice": notice if notice in NOTICES else None,
            "confirmation": (after.get("hosted_confirmation") or {}).get("custom_message")
            if notice in ("added", "added_default")
            else None,
            "errors": {field: FIELD_MESSAGES[(field, problem)] for field, problem in errors.items()},
            "first_error": next(iter(errors), None),
            "kind": kind,
            "kept": kept or {},
            "make_default": make_default,
            "refusal": refusal,
        },
        locale=visit.locale,
        status_code=status,
    )


@router.get(BASE)
def payment_methods_page(request: Request, visit: Visit, notice: str | None = None) -> Response:
    _enabled(visit)
    return _list_page(request, visit, notice=notice)


def _missing(kind: str, form: dict[str, Any]) -> dict[str, str]:
    errors = {}
    for names in REQUIRED[kind]:
        if any(not str(form.get(name) or "").strip() for name in names):
            field = "card_expiry" if names[0] == "card_exp_month" else names[0]
            errors[field] = "required"
    return errors


def _create_params(kind: str, form: dict[str, Any], customer: Customer) -> PaymentMethodCreate:
    """The service's parameters from the form (validated as the API validates them)."""
    if kind == "card":
        details: dict[str, Any] = {
            "type": "card",
            "card": {
                "number": re.sub(r"[\s-]", "", str(form.get("card_number") or "")),
                "exp_month": str(form.get("card_exp_month") or "").strip(),
                "exp_year": str(form.get("card_exp_year") or "").strip(),
                "cvc": str(form.get("card_cvc") or "").strip(),
            },
        }
    elif kind == "sepa_debit":
        details = {
            "type": "sepa_debit",
            "sepa_debit": {"iban": str(form.get("iban") or "")},
            # SEPA mandates name the account holder (and reach the customer by email).
            "billing_details": {
                "name": str(form.get("account_holder") or "").strip(),
                "email": customer.email,
            },
        }
    else:
        details = {"type": "paypal", "paypal": {"payer_email": str(form.get("payer_email") or "").strip()}}
    return validate(PaymentMethodCreate, details)


def _problem(error: TenureError) -> tuple[str, str]:
    """Which field a refusal of the service concerns, and how (a declined card has no param)."""
    if error.code == "card_declined":
        return "card_number", "declined"
    field = PARAM_FIELDS.get(error.param or "", "form")
    if error.code == "parameter_missing":
        return field, "required"
    if error.code == "incorrect_number":
        return field, "incorrect"
    return field, "invalid"


def same_method(new: PaymentMethod, saved: PaymentMethod) -> bool:
    """The same card (and expiry), account or PayPal login: adding it again adds nothing."""
    if new.type != saved.type:
        return False
    if new.type == "paypal":
        return (new.paypal_payer_email or "").lower() == (saved.paypal_payer_email or "").lower()
    return new.fingerprint is not None and (new.fingerprint, new.card_exp_month, new.card_exp_year) == (
        saved.fingerprint,
        saved.card_exp_month,
        saved.card_exp_year,
    )


def _add(visit: PortalVisit, params: PaymentMethodCreate, *, make_default: bool) -> bool:
    """Create and attach the method (or find the same one already saved); returns whether it is new."""
    customer = _lock_customer(visit)
    method = payment_methods.create_payment_method(
        visit.db, params, processor=get_processor(visit.runtime), now=visit.real_now
    )
    saved = next((other for other in _methods(visit) if same_method(method, other)), None)
    if saved is not None:
        # Never attached and never announced (creating records no event, as in Stripe).
        visit.db.delete(method)
        visit.db.flush()
        method = saved
    else:
        payment_methods.attach(visit.db, method, customer, real_now=visit.real_now, param=None)
    if make_default:
        _make_default(visit, customer, method)
    return saved is None


def _make_default(visit: PortalVisit, customer: Customer, method: PaymentMethod) -> None:
    """Through the customer service: its `customer.updated` also makes overdue invoices retry now.
    `customer` is the row `_lock_customer` re-read, so a double submission changes nothing."""
    if customer.default_payment_method_id == method.id:
        return
    update_customer(
        visit.db,
        visit.customer.id,
        CustomerUpdate(invoice_settings=InvoiceSettingsParams(default_payment_method=method.id)),
        real_now=visit.real_now,
    )


@router.post(BASE)
def add(request: Request, visit: WritingVisit, form: Form) -> Response:
    visit.check_csrf(form)
    _enabled(visit)
    kind = str(form.get("type") or "")
    if kind not in KINDS:
        raise PortalPageError(404, "not_found", visit.locale)
    make_default = form.get("make_default") == "1"
    kept = {name: str(form.get(name) or "") for name in KEPT}
    errors = _missing(kind, form)
    if not errors:
        try:
            new = _add(visit, _create_params(kind, form, visit.customer), make_default=make_default)
        except TenureError as error:
            visit.db.rollback()
            field, problem = _problem(error)
            errors = {field: problem}
    if errors:
        return _list_page(
            request, visit, errors=errors, kind=kind, kept=kept, make_default=make_default, status=400
        )
    visit.db.commit()
    return _after_adding(
        visit,
        notice=("added_default" if make_default else "added") if new else "exists",
        retrying=make_default and bool(_overdue(visit)),
    )


def _after_adding(visit: PortalVisit, *, notice: str, retrying: bool) -> Response:
    """A `payment_method_update` deep link ends per its `after_completion`; otherwise, the list."""
    flow = _deep_link(visit)
    after = (flow or {}).get("after_completion") or {}
    if flow is not None and after.get("type") == "redirect":
        return RedirectResponse(str(after["redirect"]["return_url"]), status_code=303)
    if flow is not None and after.get("type") == "portal_homepage":
        home_notice = "payment_method_retry" if retrying else "payment_method_updated"
        return RedirectResponse(f"/portal?notice={home_notice}", status_code=303)
    return RedirectResponse(f"{BASE}?notice={notice}", status_code=303)


@router.post(BASE + "/{payment_method_id}/default")
def make_default(visit: WritingVisit, form: Form, payment_method_id: str) -> Response:
    """Make a saved method the default (again is a no-op, so a double submit changes nothing)."""
    visit.check_csrf(form)
    _enabled(visit)
    customer = _lock_customer(visit)
    _make_default(visit, customer, _own_method(visit, payment_method_id))
    visit.db.commit()
    return RedirectResponse(f"{BASE}?notice=default", status_code=303)


@router.get(BASE + "/{payment_method_id}/remove")
def confirm_removal(request: Request, visit: Visit, payment_method_id: str) -> Response:
    _enabled(visit)
    method = _own_method(visit, payment_method_id)
    return page(
        request,
        visit,
        "portal/payment_method_remove.html",
        {"method": _view(method, visit.customer)},
        locale=visit.locale,
    )


@router.post(BASE + "/{payment_method_id}/remove")
def remove(request: Request, visit: WritingVisit, form: Form, payment_method_id: str) -> Response:
    """Detach the method; refused (with the reason, in the customer's language) while it is the
    default of a customer who owes a payment."""
    visit.check_csrf(form)
    _enabled(visit)
    gone = visit.db.scalar(
        select(PaymentMethod.pk).where(PaymentMethod.id == payment_method_id, PaymentMethod.detached)
    )
    if gone is not None:
        # Detached already (a double submit): detaching is final, and belongs to nobody now.
        return RedirectResponse(f"{BASE}?notice=removed", status_code=303)
    method = _own_method(visit, payment_method_id, for_update=True)
    try:
        payment_methods.detach_payment_method(visit.db, method.id, real_now=visit.real_now)
    except TenureError as error:
        visit.db.rollback()
        if error.code != IN_USE:
            raise
        return _list_page(request, visit, refusal=IN_USE, status=409)
    visit.db.commit()
    return RedirectResponse(f"{BASE}?notice=removed", status_code=303)
