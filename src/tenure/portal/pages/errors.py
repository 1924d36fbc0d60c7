"""Errors on portal pages are pages, in the visitor's language — never JSON, never a stack trace."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from tenure.portal.pages.rendering import page
from tenure.portal.pages.visit import PortalPageError, request_locale

PAGE_PREFIXES = ("/portal", "/checkout", "/email/")


def is_page(request: Request) -> bool:
    return request.url.path.startswith(PAGE_PREFIXES)


def error_page(request: Request, error: PortalPageError) -> HTMLResponse:
    locale = error.locale or request_locale(request)
    return page(
        request, None, "portal/error.html", {"kind": error.kind}, locale=locale, status_code=error.status_code
    )


def status_page(request: Request, status_code: int) -> HTMLResponse:
    from tenure.checkout.pages import checkout_status_page, is_checkout_page  # its own layout

    if is_checkout_page(request):
        return checkout_status_page(request, status_code)
    kind = {401: "session", 403: "csrf", 410: "link", 500: "server", 503: "busy"}.get(
        status_code, "not_found"
    )
    return error_page(request, PortalPageError(status_code, kind))
