"""Browser-facing security: CSRF tokens bound to the browser session, security headers with a CSP nonce."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

CSRF_FIELD = "csrf_token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret_key: str, session_binding: str) -> str:
    """A token only this browser session can present (HMAC of its session id with the server secret)."""
    return hmac.new(secret_key.encode(), f"csrf:{session_binding}".encode(), hashlib.sha256).hexdigest()


def same_secret(expected: str, presented: str) -> bool:
    """Constant-time equality of a secret and what a client presented, whatever its characters
    (`hmac.compare_digest` raises on non-ASCII text, which would turn a forged token into a 500)."""
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))


def csrf_valid(secret_key: str, session_binding: str, presented: str | None) -> bool:
    if not presented:
        return False
    return same_secret(csrf_token(secret_key, session_binding), presented)


def csp_nonce(request: Request) -> str:
    nonce: str | None = getattr(request.state, "csp_nonce", None)
    if nonce is None:
        nonce = secrets.token_urlsafe(16)
        request.state.csp_nonce = nonce
    return nonce


def apply_security_headers(
    request: Request, response: Response, *, extra_sources: tuple[str, ...] = ()
) -> None:
    """Headers for every HTML page: no inline script, no framing, no referrer leaks, HSTS behind HTTPS.
    `extra_sources`: hosts a page may load scripts and styles from (only the API reference has one)."""
    nonce = getattr(request.state, "csp_nonce", None)
    extra = "".join(f" {source}" for source in extra_sources)
    style = f"style-src 'self'{extra} 'nonce-{nonce}'" if nonce else f"style-src 'self'{extra}"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'{extra}; {style}; img-src 'self' https: data:; "
        "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if is_https(request):
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"
