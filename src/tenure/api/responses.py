"""JSON responses in Stripe's format (compact, stable key order)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

from tenure.api.errors import TenureError


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(content=_dumps(content), status_code=status_code, media_type="application/json")


def error_response(exc: TenureError) -> Response:
    return json_response(exc.to_dict(), status_code=exc.status_code)
