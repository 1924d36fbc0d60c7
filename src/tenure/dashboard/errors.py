"""Errors on dashboard pages are pages (never JSON, never a trace); signed-out visitors go to sign in.

Every dashboard router uses `DashboardRoute`, which renders whatever a route or its dependencies
raise, so the app-wide handlers (made for the API and the portal) never see a dashboard error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tenure.api.errors import TenureError
from tenure.api.responses import client_disconnected
from tenure.db.engine import WriteQueueBusy
from tenure.web.templating import render

log = logging.getLogger(__name__)
LOCALE = "en"  # the dashboard is for operators and is in English only
LOGIN_PATH = "/dashboard/login"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

TITLES = {
    400: "This request could not be processed",
    401: "Please sign in",
    403: "You cannot do this",
    404: "Page not found",
    409: "This changed in the meantime",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "The database is busy",
}


class DashboardError(Exception):
    """A dashboard page that cannot be shown: rendered as an error page with this status."""

    def __init__(self, status_code: int, kind: str, message: str | None = None) -> None:
        super().__init__(kind)
        self.status_code = status_code
        self.kind = kind  # "signin" | "forbidden" | "csrf" | "not_found" | "invalid" | "server" | "busy"
        self.message = message


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, status_code: int, kind: str, message: str | None = None) -> HTMLResponse:
    response = render(
        request,
        "dashboard/error.html",
        {
            "status": status_code,
            "kind": kind,
            "title": TITLES.get(status_code, TITLES[400]),
            "message": message,
        },
        locale=LOCALE,
        status_code=status_code,
    )
    no_store(response)
    return response


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path if request.method == "GET" else "/dashboard"
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)


def render_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DashboardError):
        if exc.kind == "signin":
            return sign_in_redirect(request)
        return error_page(request, exc.status_code, exc.kind, exc.message)
    if isinstance(exc, TenureError):
        kind = "not_found" if exc.status_code == 404 else "invalid"
        return error_page(request, exc.status_code, kind, exc.message)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 400, "invalid")
    if isinstance(exc, ClientDisconnect):
        return client_disconnected(request)
    if isinstance(exc, WriteQueueBusy):  # SQLite's writers queued past their bounds (docs/deploy.md)
        log.warning("database busy: %s %s: %s", request.method, request.url.path, exc)
        busy = error_page(request, 503, "busy")
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    if isinstance(exc, StarletteHTTPException):
        return error_page(request, exc.status_code, "not_found" if exc.status_code == 404 else "invalid")
    log.exception("unhandled dashboard error", exc_info=exc)
    return error_page(request, 500, "server")


class DashboardRoute(APIRoute):
    """Renders errors raised by a dashboard route or its dependencies as dashboard pages."""

    def get_route_handler(self) -> Handler:
        endpoint_handler = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await endpoint_handler(request)
            except Exception as exc:
                return render_error(request, exc)

        return handler
