"""One error base class; rendered as Stripe's error JSON on the API and as a page in HTML."""

from __future__ import annotations

from typing import Any


class TenureError(Exception):
    status_code = 400
    type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        return {"error": error}


class InvalidRequest(TenureError):
    code = "parameter_invalid"


class MissingParameter(TenureError):
    code = "parameter_missing"

    def __init__(self, param: str) -> None:
        super().__init__(f"Missing required param: {param}.", param=param)


class UnknownParameter(TenureError):
    code = "parameter_unknown"

    def __init__(self, param: str) -> None:
        super().__init__(f"Received unknown parameter: {param}", param=param)


class ResourceMissing(TenureError):
    """No such object: a 404 for the id in the URL (`param="id"`), a 400 for an id given in a parameter."""

    status_code = 404
    code = "resource_missing"

    def __init__(self, kind: str, object_id: str, *, param: str | None = "id") -> None:
        super().__init__(f"No such {kind}: '{object_id}'", param=param)
        if param not in (None, "id"):
            self.status_code = 400


class NotFound(TenureError):
    status_code = 404
    code = "resource_missing"


class AuthenticationFailed(TenureError):
    status_code = 401
    code = None


class PermissionDenied(TenureError):
    status_code = 403
    code = "secret_key_required"


class IdempotencyError(TenureError):
    type = "idempotency_error"
    code = None


class CardError(TenureError):
    status_code = 402
    type = "card_error"


class RateLimited(TenureError):
    status_code = 429
    type = "invalid_request_error"
    code = "rate_limit"


class ServerError(TenureError):
    status_code = 500
    type = "api_error"
    code = None
