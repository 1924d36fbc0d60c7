"""Where links in emails land: the unsubscribe page, and portal links that open a fresh session.

Unsubscribing: `GET /email/unsubscribe/<token>` asks for confirmation (a link scanner fetching the
page changes nothing); the form's POST — or a mail client's one-click POST (RFC 8058, body
`List-Unsubscribe=One-Click`) — sets the customer's `tenure_marketing_opt_out`, recorded as a
`customer.updated` event. Transactional emails keep coming: they are about the account itself.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerUpdate
from tenure.customers.service import update_customer
from tenure.notifications.compose import load_brand
from tenure.notifications.links import read_portal_link, read_unsubscribe_token
from tenure.portal.config_service import effective_configuration
from tenure.portal.pages.rendering import page
from tenure.portal.pages.visit import Form, PortalPageError, request_locale
from tenure.portal.session_schemas import FlowDataParams, SessionCreate
from tenure.portal.session_service import create_portal_session
from tenure.runtime import Runtime
from tenure.web.i18n import negotiate
from tenure.web.security import csrf_token, csrf_valid

router = APIRouter(include_in_schema=False)
UNSUBSCRIBE = "/email/unsubscribe/{token}"
ONE_CLICK = "One-Click"


def _customer_locale(request: Request, customer: Customer) -> str:
    return negotiate(
        session_locale=None,
        preferred=list(customer.preferred_locales or []),
        accept_language=request.headers.get("accept-language"),
    )


def _unsubscribe_page(request: Request, runtime: Runtime, customer: Customer, *, done: bool) -> Response:
    with runtime.sessionmaker() as db:
        brand = load_brand(db, runtime.settings)
    secret = runtime.settings.resolved_secret_key()
    return page(
        request,
        None,
        "notifications/unsubscribe.html",
        {
            "brand_name": brand.name,
            "logo_url": brand.logo_url,
            "done": done,
            "csrf": csrf_token(secret, f"unsubscribe:{customer.id}"),
            "email": customer.email,
        },
        locale=_customer_locale(request, customer),
    )


def _token_customer(request: Request, runtime: Runtime, token: str) -> Customer:
    customer_id = read_unsubscribe_token(runtime.settings.resolved_secret_key(), token)
    with runtime.sessionmaker() as db:
        customer = db.scalar(select(Customer).where(Customer.id == customer_id)) if customer_id else None
    if customer is None or customer.deleted:
        raise PortalPageError(404, "not_found", request_locale(request))
    return customer


@router.get(UNSUBSCRIBE)
def confirm_unsubscribe(request: Request, token: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    customer = _token_customer(request, runtime, token)
    return _unsubscribe_page(request, runtime, customer, done=customer.marketing_opt_out)


@router.post(UNSUBSCRIBE)
def unsubscribe(request: Request, form: Form, token: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    customer = _token_customer(request, runtime, token)
    secret = runtime.settings.resolved_secret_key()
    one_click = form.get("List-Unsubscribe") == ONE_CLICK
    if not one_click and not csrf_valid(secret, f"unsubscribe:{customer.id}", form.get("csrf_token")):
        raise PortalPageError(403, "csrf", _customer_locale(request, customer))
    if not customer.marketing_opt_out:
        with runtime.sessionmaker() as db:
            update_customer(
                db, customer.id, CustomerUpdate(tenure_marketing_opt_out=True), real_now=runtime.clock.now()
            )
            db.commit()
        customer.marketing_opt_out = True
    return _unsubscribe_page(request, runtime, customer, done=True)


def _updates_payment_methods(db: Session, *, now: int) -> bool:
    """Whether the portal lets customers change payment methods (else the link opens the home page)."""
    features = effective_configuration(db, None, now=now).features or {}
    return bool((features.get("payment_method_update") or {}).get("enabled"))


@router.get("/portal/email-link/{token}")
def open_email_link(request: Request, token: str) -> Response:
    """A link from an email: a fresh portal session for its customer (deep into its flow, if any)."""
    runtime: Runtime = request.app.state.runtime
    now = runtime.clock.now()
    link = read_portal_link(runtime.settings.resolved_secret_key(), token, now=now)
    if link is None:
        raise PortalPageError(410, "link", request_locale(request))
    with runtime.sessionmaker() as db:
        customer = db.scalar(select(Customer).where(Customer.id == link.customer))
        if customer is None or customer.deleted:
            raise PortalPageError(410, "link", request_locale(request))
        flow = None
        if link.flow == "payment_method_update" and _updates_payment_methods(db, now=now):
            flow = FlowDataParams(type="payment_method_update")
        _portal_session, url = create_portal_session(
            db,
            SessionCreate(customer=customer.id, flow_data=flow),
            real_now=now,
            base_url=runtime.settings.public_base_url,
        )
        db.commit()
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
