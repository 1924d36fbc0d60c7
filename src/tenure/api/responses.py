"""JSON responses in Stripe's format (compact, stable key order)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from tenure.api.errors import InvalidRequest, TenureError

log = logging.getLogger(__name__)


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(content=_dumps(content), status_code=status_code, media_type="application/json")


def error_response(exc: TenureError) -> Response:
    return json_response(exc.to_dict(), status_code=exc.status_code)


def client_disconnected(request: Request) -> Response:
    """The client closed its connection before its body arrived (a timeout, a killed process): a
    client event, logged as one line. Nothing ran and nothing was stored; no one reads the answer."""
    log.info("client disconnected before sending its body: %s %s", request.method, request.url.path)
    return error_response(InvalidRequest("The request body was not received in full."))
