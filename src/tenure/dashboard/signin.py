"""`/dashboard/login` and sign-out. The sign-in form's CSRF token is bound to a pre-session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tenure.dashboard import auth
from tenure.dashboard.errors import LOCALE, LOGIN_PATH, DashboardError, DashboardRoute, no_store
from tenure.dashboard.visit import COOKIE, COOKIE_PATH, Form, StaffVisit, staff_visit
from tenure.ratelimit import signin_wait
from tenure.runtime import Runtime
from tenure.web.security import CSRF_FIELD, csrf_token, csrf_valid, is_https, new_token
from tenure.web.templating import render

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
LOGIN_COOKIE = "tenure_dashboard_login"
# The same words for an unknown email and a wrong password: the form never tells which accounts exist.
GENERIC_FAILURE = "Incorrect email or password."


def safe_next(target: str | None) -> str:
    """Only a dashboard path (never another site, never back to the sign-in page)."""
    if (
        not target
        or not target.startswith("/dashboard")
        or target.startswith(LOGIN_PATH)
        or any(c in target for c in "\\\r\n\t")
        or "//" in target
    ):
        return "/dashboard"
    return target


def _login_page(
    request: Request,
    runtime: Runtime,
    pre_session: str,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    token = csrf_token(runtime.settings.resolved_secret_key(), f"login:{pre_session}")
    response = render(
        request,
        "dashboard/login.html",
        {"csrf": token, "next": next_path, "email": email, "error": error},
        locale=LOCALE,
        status_code=status_code,
    )
    no_store(response)
    response.set_cookie(
        LOGIN_COOKIE,
        pre_session,
        path=LOGIN_PATH,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    return response


@router.get(LOGIN_PATH)
def login_form(request: Request, next: str = "") -> Response:
    runtime: Runtime = request.app.state.runtime
    with runtime.read_session() as db:
        if auth.resolve_session(db, request.cookies.get(COOKIE), now=runtime.clock.now()) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    pre_session = request.cookies.get(LOGIN_COOKIE) or new_token()
    return _login_page(request, runtime, pre_session, next_path=safe_next(next))


@router.post(LOGIN_PATH)
def login(request: Request, form: Form) -> Response:
    runtime: Runtime = request.app.state.runtime
    pre_session = request.cookies.get(LOGIN_COOKIE)
    secret = runtime.settings.resolved_secret_key()
    if not pre_session or not csrf_valid(secret, f"login:{pre_session}", form.get(CSRF_FIELD)):
        raise DashboardError(403, "csrf")
    email = form.get("email").strip()[: auth.MAX_EMAIL_LENGTH]
    next_path = safe_next(form.get("next"))
    # Every attempt counts here, before any account is looked up: the answer reveals nothing.
    wait = signin_wait(request, "dashboard")
    if wait is not None:
        response = _login_page(
            request,
            runtime,
            pre_session,
            next_path=next_path,
            email=email,
            error=f"Too many sign-in attempts from your network. Please wait {wait} "
            f"second{'s' if wait > 1 else ''} and try again.",
            status_code=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    address = request.client.host if request.client else "unknown"
    with runtime.sessionmaker() as db:
        result = auth.sign_in(
            db, email=email, password=form.get("password"), address=address, now=runtime.clock.now()
        )
        db.commit()
    if result.throttled:
        assert result.retry_after is not None
        minutes = max(1, -(-result.retry_after // 60))
        response = _login_page(
            request,
            runtime,
            pre_session,
            next_path=next_path,
            email=email,
            error=f"Too many failed sign-ins. Please wait {minutes} minute{'s' if minutes > 1 else ''} "
            "and try again.",
            status_code=429,
        )
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.token is None:
        return _login_page(
            request,
            runtime,
            pre_session,
            next_path=next_path,
            email=email,
            error=GENERIC_FAILURE,
            status_code=401,
        )
    signed_in = RedirectResponse(next_path, status_code=303)
    signed_in.set_cookie(
        COOKIE,
        result.token,
        max_age=auth.SESSION_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    signed_in.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return signed_in


@router.post("/dashboard/logout")
def logout(visit: Annotated[StaffVisit, Depends(staff_visit, scope="function")], form: Form) -> Response:
    visit.check_csrf(form)
    auth.sign_out(visit.db, visit.staff_session)
    visit.db.commit()
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
