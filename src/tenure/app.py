"""The ASGI application: the `/v1` API, health, and (as they land) the portal and dashboard."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tenure import __version__, features
from tenure.api import openapi
from tenure.api import reference as api_reference
from tenure.api.errors import InvalidRequest, NotFound, ServerError, TenureError
from tenure.api.params import param_name
from tenure.api.responses import client_disconnected, error_response, json_response
from tenure.checkout.pages import CheckoutPageError
from tenure.checkout.pages import error_page as checkout_error_page
from tenure.db.engine import WriteQueueBusy
from tenure.ids import random_token
from tenure.portal.pages.errors import error_page, is_page, status_page
from tenure.portal.pages.visit import PortalPageError
from tenure.ratelimit import RateLimiters
from tenure.runtime import Runtime

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Tenure",
        version=__version__,
        description="Subscription billing that speaks Stripe's wire format.",
        # Served by tenure.api.reference instead: FastAPI's pages run inline scripts.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.rate_limiters = RateLimiters.for_runtime(runtime)  # where buckets live: chosen once
    for router in features.load():
        app.include_router(router)
    app.include_router(api_reference.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_handlers(app)
    openapi.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "database": runtime.database_kind}

    @app.middleware("http")
    async def request_id(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Request-Id"] = "req_" + random_token(14)
        return response

    return app


class DatabaseUnavailable(ServerError):
    status_code = 503


def _install_handlers(app: FastAPI) -> None:
    # The database went away (restart, failover, pool exhausted): the request's transaction did not
    # complete, and a retry with the same Idempotency-Key is safe. A handler for these classes
    # (unlike the catch-all below, which Starlette re-raises and uvicorn then answers by closing the
    # connection) keeps the client's keep-alive connection usable for that retry.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        log.error("database unavailable: %s", exc)
        if is_page(request):
            page = status_page(request, 500)
            page.status_code = 503
            return page
        return error_response(DatabaseUnavailable("The database is unavailable; please retry the request."))

    # SQLite's writers queue in each process (docs/deploy.md); one refused its turn is answered at once,
    # before its transaction began: nothing was written, and the same request may be sent again. (The
    # dashboard answers its own: `tenure.dashboard.errors`.)
    @app.exception_handler(WriteQueueBusy)
    async def database_busy(request: Request, exc: WriteQueueBusy) -> Response:
        log.warning("database busy: %s %s: %s", request.method, request.url.path, exc)
        if is_page(request):
            response: Response = status_page(request, 503)  # in the customer's language, if known
        else:
            response = error_response(DatabaseUnavailable(str(exc)))
            response.headers["Stripe-Should-Retry"] = "true"
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(CheckoutPageError)
    async def checkout_page_error(request: Request, exc: CheckoutPageError) -> Response:
        return checkout_error_page(request, exc)

    @app.exception_handler(PortalPageError)
    async def portal_page_error(request: Request, exc: PortalPageError) -> Response:
        return error_page(request, exc)

    @app.exception_handler(TenureError)
    async def tenure_error(request: Request, exc: TenureError) -> Response:
        if is_page(request):
            return status_page(request, exc.status_code)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_page(request):
            return status_page(request, 400)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        location = [p for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        return error_response(InvalidRequest(f"Invalid request: {first['msg']}", param=param_name(location)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_page(request):
            return status_page(request, exc.status_code)
        if exc.status_code == 404:
            return error_response(
                NotFound(f"Unrecognized request URL ({request.method}: {request.url.path}).")
            )
        if exc.status_code == 405:
            error = InvalidRequest(f"Unrecognized request URL ({request.method}: {request.url.path}).")
            return json_response(error.to_dict(), status_code=405)
        return json_response(InvalidRequest(str(exc.detail)).to_dict(), status_code=exc.status_code)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> Response:
        return client_disconnected(request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        if is_page(request):
            return status_page(request, 500)
        return error_response(ServerError("An unexpected error occurred. It has been logged."))
