"""The hosted checkout page: one short form, server-rendered, usable without JavaScript.

`GET /checkout/{id}` shows the form (or the expired page, or sends a completed session on to its
`success_url`); `POST /checkout/{id}` applies a promotion code, shows the test wallet's approval
step, or completes the checkout. Every POST carries a CSRF token bound to the session id and to
a random cookie of this browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, TenureError
from tenure.billing_context import BillingContext
from tenure.checkout.complete import CheckoutClosed, checkout_promotion_code, complete_checkout
from tenure.checkout.form import FormValues, error_fields, read_submission, read_values
from tenure.checkout.models import CheckoutSession, CheckoutStatus
from tenure.checkout.schemas import success_redirect
from tenure.checkout.service import expire_if_due, get_checkout_session
from tenure.checkout.summary import summarize
from tenure.coupons.models import PromotionCode
from tenure.customers.models import Customer
from tenure.payments.processor import TestProcessor, get_processor
from tenure.portal.models import PortalConfiguration
from tenure.runtime import Runtime
from tenure.web.i18n import negotiate
from tenure.web.security import csrf_token, csrf_valid, is_https, new_token
from tenure.web.templating import render

router = APIRouter(include_in_schema=False)
COOKIE = "tenure_checkout"
COOKIE_SECONDS = 24 * 3600
PAGE_PREFIX = "/checkout"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class CheckoutPageError(Exception):
    """Rendered as a localized checkout page: unknown or expired sessions, CSRF failures."""

    def __init__(
        self, status_code: int, kind: str, locale: str | None = None, cancel_url: str | None = None
    ) -> None:
        super().__init__(kind)
        self.status_code = status_code
        self.kind = kind  # "not_found" | "expired" | "csrf" | "server" | "busy"
        self.locale = locale
        self.cancel_url = cancel_url


def is_checkout_page(request: Request) -> bool:
    path = request.url.path
    return path == PAGE_PREFIX or path.startswith(PAGE_PREFIX + "/")


def _browser_locale(request: Request) -> str:
    return negotiate(
        session_locale=None, preferred=None, accept_language=request.headers.get("accept-language")
    )


def _brand(db: Session | None) -> dict[str, Any]:
    """The business's name, logo and colour: the default portal configuration's branding."""
    branding: dict[str, Any] = {}
    if db is not None:
        configuration = db.scalar(select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True)))
        if configuration is not None:
            branding = configuration.branding
    accent = branding.get("accent_color")
    return {
        "brand_name": branding.get("name") or None,
        "logo_url": branding.get("logo_url"),
        "accent": accent if isinstance(accent, str) and _COLOUR.match(accent) else None,
    }


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    locale: str,
    db: Session | None,
    status_code: int = 200,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    shared = {**_brand(db), "test_mode": isinstance(get_processor(runtime), TestProcessor)}
    response = render(request, template, {**shared, **context}, locale=locale, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, error: CheckoutPageError) -> HTMLResponse:
    locale = error.locale or _browser_locale(request)
    return _page(
        request,
        "checkout/error.html",
        {"kind": error.kind, "back_url": error.cancel_url},
        locale=locale,
        db=None,
        status_code=error.status_code,
    )


def checkout_status_page(request: Request, status_code: int) -> HTMLResponse:
    """The page for an HTTP error under `/checkout` (unknown path, wrong method, server error)."""
    kind = {403: "csrf", 410: "expired", 500: "server", 503: "busy"}.get(status_code, "not_found")
    return error_page(request, CheckoutPageError(status_code, kind))


@dataclass
class CheckoutVisit:
    """One request to a session's page: the session (locked for POSTs), its locale, this browser."""

    request: Request
    db: Session
    runtime: Runtime
    checkout: CheckoutSession
    customer: Customer | None
    locale: str
    real_now: int
    browser_token: str | None

    @property
    def base_url(self) -> str:
        return self.runtime.settings.public_base_url

    def csrf(self, browser_token: str) -> str:
        secret = self.runtime.settings.resolved_secret_key()
        return csrf_token(secret, f"checkout:{self.checkout.id}:{browser_token}")

    def check_csrf(self, form: dict[str, Any]) -> None:
        secret = self.runtime.settings.resolved_secret_key()
        token = self.browser_token
        presented = str(form.get("csrf_token") or "")
        if not token or not csrf_valid(secret, f"checkout:{self.checkout.id}:{token}", presented):
            raise CheckoutPageError(403, "csrf", self.locale)

    def ensure_open(self) -> Response | None:
        """Expire the session if its time is up; a redirect for completed sessions; None when open."""
        checkout = self.checkout
        if checkout.is_due_to_expire(self.real_now):
            checkout = get_checkout_session(self.db, checkout.id, for_update=True)
            if expire_if_due(self.db, checkout, now=self.real_now, base_url=self.base_url):
                self.db.commit()
        if checkout.status == CheckoutStatus.EXPIRED:
            raise CheckoutPageError(410, "expired", self.locale, checkout.cancel_url)
        if checkout.status == CheckoutStatus.COMPLETE:
            return _completed(checkout)
        return None


def _visit(request: Request, checkout_id: str, *, for_update: bool) -> Iterator[CheckoutVisit]:
    runtime: Runtime = request.app.state.runtime
    if "\x00" in checkout_id or len(checkout_id) > 64:
        raise CheckoutPageError(404, "not_found", _browser_locale(request))
    with runtime.sessionmaker() as db:
        try:
            checkout = get_checkout_session(db, checkout_id, for_update=for_update)
        except TenureError:
            raise CheckoutPageError(404, "not_found", _browser_locale(request)) from None
        customer = None
        if checkout.customer_id is not None:
            customer = db.scalar(select(Customer).where(Customer.id == checkout.customer_id))
        locale = negotiate(
            session_locale=None if checkout.locale in (None, "auto") else checkout.locale,
            preferred=list(customer.preferred_locales or []) if customer else None,
            accept_language=request.headers.get("accept-language"),
        )
        yield CheckoutVisit(
            request=request,
            db=db,
            runtime=runtime,
            checkout=checkout,
            customer=customer,
            locale=locale,
            real_now=runtime.clock.now(),
            browser_token=request.cookies.get(COOKIE) or None,
        )


def viewing(request: Request, checkout_id: str) -> Iterator[CheckoutVisit]:
    yield from _visit(request, checkout_id, for_update=False)


def submitting(request: Request, checkout_id: str) -> Iterator[CheckoutVisit]:
    # Locked for the whole POST: a double-clicked "Subscribe" completes once.
    yield from _visit(request, checkout_id, for_update=True)


async def form_data(request: Request) -> dict[str, Any]:
    return {key: value for key, value in (await request.form()).items() if isinstance(value, str)}


Viewing = Annotated[CheckoutVisit, Depends(viewing)]
Submitting = Annotated[CheckoutVisit, Depends(submitting)]
Form = Annotated[dict[str, Any], Depends(form_data)]


def _completed(checkout: CheckoutSession) -> Response:
    """After completion: on to `success_url`, or Tenure's own confirmation without one."""
    target = success_redirect(checkout) or f"{PAGE_PREFIX}/{checkout.id}/done"
    return RedirectResponse(target, status_code=303)


def _takes_codes(checkout: CheckoutSession) -> bool:
    return bool(checkout.allow_promotion_codes) and not checkout.discounts


def _email_locked(visit: CheckoutVisit) -> str | None:
    """A session made for a known customer with an email uses that email (as Stripe does)."""
    return visit.customer.email if visit.customer is not None and visit.customer.email else None


def _promotion(visit: CheckoutVisit, values: FormValues) -> PromotionCode | None:
    """The applied promotion code, re-checked on every request (an error goes to its field)."""
    if not values.applied_code:
        return None
    try:
        return checkout_promotion_code(visit.db, visit.checkout, values.applied_code, now=visit.real_now)
    except InvalidRequest:
        values.errors["promotion_code"] = "invalid"
        return None


def _form_page(
    visit: CheckoutVisit,
    values: FormValues,
    *,
    browser_token: str,
    promotion: PromotionCode | None,
    typed_code: str = "",
    template: str = "checkout/pay.html",
    status_code: int = 200,
) -> HTMLResponse:
    checkout = visit.checkout
    return _page(
        visit.request,
        template,
        {
            "checkout": checkout,
            "summary": summarize(visit.db, checkout, now=visit.real_now, promotion=promotion),
            "values": values,
            "errors": values.errors,
            "typed_code": typed_code,
            "methods": list(checkout.payment_method_types),
            "takes_codes": _takes_codes(checkout),
            "email_locked": _email_locked(visit) is not None,
            "csrf": visit.csrf(browser_token),
            "action": f"{PAGE_PREFIX}/{checkout.id}",
            "cancel_url": checkout.cancel_url,
        },
        locale=visit.locale,
        db=visit.db,
        status_code=status_code,
    )


@router.get(PAGE_PREFIX + "/{checkout_id}")
def show(visit: Viewing) -> Response:
    done = visit.ensure_open()
    if done is not None:
        return done
    token = visit.browser_token or new_token()
    checkout = visit.checkout
    values = FormValues(
        email=_email_locked(visit) or checkout.customer_email or "",
        name=(visit.customer.name if visit.customer else None) or "",
        method=checkout.payment_method_types[0],
    )
    response = _form_page(visit, values, browser_token=token, promotion=None)
    if visit.browser_token != token:
        response.set_cookie(
            COOKIE,
            token,
            max_age=COOKIE_SECONDS,
            path=PAGE_PREFIX,
            httponly=True,
            samesite="lax",
            secure=is_https(visit.request),
        )
    return response


@router.post(PAGE_PREFIX + "/{checkout_id}")
def submit(visit: Submitting, form: Form) -> Response:
    visit.check_csrf(form)
    done = visit.ensure_open()
    if done is not None:
        return done
    assert visit.browser_token is not None  # checked with the CSRF token
    checkout = visit.checkout
    methods = list(checkout.payment_method_types)
    action = str(form.get("action") or "pay")
    values = read_values(form, methods=methods, locked_email=_email_locked(visit))

    def again(status_code: int, **extra: Any) -> HTMLResponse:
        return _form_page(
            visit, values, browser_token=str(visit.browser_token), status_code=status_code, **extra
        )

    if action in ("apply_code", "remove_code"):
        # Only the code is checked here: the rest of the form is just shown back.
        values.errors.clear()
        typed = str(form.get("promotion_code") or "").strip()[:500]
        values.applied_code = typed if action == "apply_code" else ""
        if action == "apply_code" and not typed:
            values.errors["promotion_code"] = "required"
            return again(400, promotion=None)
        promotion = _promotion(visit, values)
        if promotion is None and values.applied_code:
            values.applied_code = ""
            return again(400, promotion=None, typed_code=typed)
        values.applied_code = promotion.code if promotion is not None else ""
        return again(200, promotion=promotion)
    if action == "cancel_wallet":
        values.errors.clear()
        return again(200, promotion=_promotion(visit, values))
    promotion = _promotion(visit, values)
    submission = read_submission(form, values, locale=visit.locale)
    if submission is None or values.errors:
        return again(400, promotion=promotion)
    if submission.payment.type == "paypal" and action != "approve_wallet":
        # The wallet's own approval step, which the test processor stands in for.
        if not values.paypal_email:
            values.paypal_email = values.email
        return again(200, promotion=promotion, template="checkout/wallet.html")
    try:
        complete_checkout(
            visit.db,
            checkout.id,
            submission,
            context=BillingContext.of(visit.runtime),
            real_now=visit.real_now,
            base_url=visit.base_url,
        )
    except CheckoutClosed:
        visit.db.rollback()
        raise CheckoutPageError(410, "expired", visit.locale, checkout.cancel_url) from None
    except TenureError as exc:
        # Nothing of the attempt remains: the customer may correct the form and try again.
        visit.db.rollback()
        found = error_fields(exc, method=submission.payment.type)
        if "promotion_code" in found and not _takes_codes(checkout):
            found = {"form": "discount"}  # the session's own discount: there is no code box to point at
        values.errors.update(found)
        template = "checkout/wallet.html" if submission.payment.type == "paypal" else "checkout/pay.html"
        return again(
            exc.status_code if exc.status_code < 500 else 400, promotion=promotion, template=template
        )
    visit.db.commit()
    return _completed(checkout)


@router.get(PAGE_PREFIX + "/{checkout_id}/done")
def done(visit: Viewing) -> Response:
    """Tenure's confirmation, for sessions made without a `success_url`."""
    checkout = visit.checkout
    if checkout.status != CheckoutStatus.COMPLETE:
        return RedirectResponse(f"{PAGE_PREFIX}/{checkout.id}", status_code=303)
    if checkout.success_url is not None:
        return _completed(checkout)
    return _page(
        visit.request,
        "checkout/done.html",
        {"checkout": checkout},
        locale=visit.locale,
        db=visit.db,
    )
