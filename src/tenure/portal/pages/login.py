"""The hosted login page (`login_page.enabled` on a configuration): email in, sign-in link out.

`/portal/login/{configuration}` asks for an email address and always answers the same way ("if an
account exists, a link is on its way"), whether the address is known or not. The link in the
email (`/portal/sign-in/{token}`) shows one button: a link scanner that fetches it uses nothing,
and the POST spends the link once and opens a portal session like any session URL.

The forms carry a CSRF token bound to a cookie set by the page (double submit), since a visitor
has no portal session yet.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from tenure.customers.schemas import valid_email
from tenure.notifications.compose import load_brand
from tenure.portal.login_links import LINK_SECONDS, find_link, request_login_link
from tenure.portal.models import PortalConfiguration
from tenure.portal.pages.rendering import page
from tenure.portal.pages.visit import Form, PortalPageError, request_locale
from tenure.portal.session_schemas import SessionCreate
from tenure.portal.session_service import create_portal_session
from tenure.ratelimit import signin_wait
from tenure.runtime import Runtime
from tenure.web.security import csrf_token, csrf_valid, is_https, new_token

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "tenure_login"
LOGIN_COOKIE_SECONDS = 3600
MAX_EMAIL_LENGTH = 512


def _configuration(runtime: Runtime, request: Request, configuration_id: str) -> PortalConfiguration:
    with runtime.read_session() as db:
        configuration = db.scalar(
            select(PortalConfiguration).where(PortalConfiguration.id == configuration_id)
        )
    if configuration is None or not configuration.active or not configuration.login_page_enabled:
        raise PortalPageError(404, "not_found", request_locale(request))
    return configuration


def _browser_key(request: Request) -> tuple[str, bool]:
    """This browser's login cookie, and whether it is new (to be set on the response)."""
    existing = request.cookies.get(LOGIN_COOKIE)
    return (existing, False) if existing else (new_token(), True)


def _csrf(runtime: Runtime, browser_key: str) -> str:
    return csrf_token(runtime.settings.resolved_secret_key(), f"portal login:{browser_key}")


def _check_csrf(runtime: Runtime, request: Request, form: dict[str, str]) -> None:
    key = request.cookies.get(LOGIN_COOKIE)
    if not key or not csrf_valid(
        runtime.settings.resolved_secret_key(), f"portal login:{key}", form.get("csrf_token")
    ):
        raise PortalPageError(403, "csrf", request_locale(request))


def _render(
    request: Request,
    runtime: Runtime,
    template: str,
    context: dict[str, object],
    *,
    configuration_id: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    key, new = _browser_key(request)
    with runtime.read_session() as db:
        brand = load_brand(db, runtime.settings, configuration_id)
    response = page(
        request,
        None,
        template,
        {"brand_name": brand.name, "logo_url": brand.logo_url, "csrf": _csrf(runtime, key), **context},
        locale=request_locale(request),
        status_code=status_code,
    )
    if new:
        response.set_cookie(
            LOGIN_COOKIE,
            key,
            max_age=LOGIN_COOKIE_SECONDS,
            path="/portal",
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )
    return response


@router.get("/portal/login/{configuration_id}")
def login_form(request: Request, configuration_id: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    configuration = _configuration(runtime, request, configuration_id)
    return _render(
        request,
        runtime,
        "portal/login.html",
        {"configuration": configuration.id, "email": "", "error": None},
        configuration_id=configuration.id,
    )


@router.post("/portal/login/{configuration_id}")
def login_submit(request: Request, form: Form, configuration_id: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    configuration = _configuration(runtime, request, configuration_id)
    _check_csrf(runtime, request, form)
    # Per client address (`tenure.ratelimit`), before anything is looked up (so the answer reveals
    # nothing); the stored per-address and per-email limits of `request_login_link` still apply after.
    wait = signin_wait(request, "portal")
    if wait is not None:
        limited = _render(
            request,
            runtime,
            "portal/login_sent.html",
            {"limited": True},
            configuration_id=configuration.id,
            status_code=429,
        )
        limited.headers["Retry-After"] = str(wait)
        return limited
    email = str(form.get("email") or "").strip()
    if not email or len(email) > MAX_EMAIL_LENGTH or not valid_email(email):
        return _render(
            request,
            runtime,
            "portal/login.html",
            {"configuration": configuration.id, "email": email[:MAX_EMAIL_LENGTH], "error": "email"},
            configuration_id=configuration.id,
            status_code=400,
        )
    with runtime.sessionmaker() as db:
        outcome = request_login_link(
            db,
            configuration,
            email=email,
            client_ip=request.client.host if request.client else "unknown",
            secret=runtime.settings.resolved_secret_key(),
            now=runtime.clock.now(),
        )
        db.commit()
    if outcome.limited:
        return _render(
            request,
            runtime,
            "portal/login_sent.html",
            {"limited": True},
            configuration_id=configuration.id,
            status_code=429,
        )
    return _render(
        request,
        runtime,
        "portal/login_sent.html",
        {"limited": False, "email": email, "minutes": LINK_SECONDS // 60},
        configuration_id=configuration.id,
    )


@router.get("/portal/sign-in/{token}")
def sign_in_page(request: Request, token: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    with runtime.read_session() as db:
        link = find_link(db, token, secret=runtime.settings.resolved_secret_key(), now=runtime.clock.now())
    if link is None:
        raise PortalPageError(410, "link", request_locale(request))
    response = _render(
        request, runtime, "portal/sign_in.html", {"token": token}, configuration_id=link.configuration_id
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/portal/sign-in/{token}")
def sign_in(request: Request, form: Form, token: str) -> Response:
    """Spend the link (once) and open a portal session, which lands like any session URL."""
    runtime: Runtime = request.app.state.runtime
    _check_csrf(runtime, request, form)
    now = runtime.clock.now()
    secret = runtime.settings.resolved_secret_key()
    with runtime.read_session() as lookup:  # an unknown or spent link never waits for the write lock
        if find_link(lookup, token, secret=secret, now=now) is None:
            raise PortalPageError(410, "link", request_locale(request))
    with runtime.sessionmaker() as db:
        link = find_link(db, token, secret=secret, now=now, for_update=True)  # again, under the lock
        if link is None:
            raise PortalPageError(410, "link", request_locale(request))
        link.used_at = now
        _portal_session, url = create_portal_session(
            db,
            SessionCreate(customer=link.customer_id, configuration=link.configuration_id),
            real_now=now,
            base_url=runtime.settings.public_base_url,
        )
        db.commit()
    response = RedirectResponse(url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
