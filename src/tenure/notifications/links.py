"""Links in emails, signed with the server secret (HMAC-SHA-256): nothing secret is stored.

- Portal links (`/portal/email-link/<token>`): a portal session's URL expires in 5 minutes, so an
  email links here instead; each click opens a fresh portal session (optionally deep into a flow).
  The token names the customer, the flow and an expiry, and cannot be altered without the secret.
- Unsubscribe links (`/email/unsubscribe/<token>`): name the customer; they never expire, as a
  customer may unsubscribe from an old email.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from tenure.web.security import same_secret

PORTAL_LINK_SECONDS = 30 * 24 * 3600
_SIGNATURE_BYTES = 20


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, purpose: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), f"tenure {purpose}:{payload}".encode(), hashlib.sha256).digest()
    return _b64(digest[:_SIGNATURE_BYTES])


def _signed(secret: str, purpose: str, payload: str) -> str:
    return f"{payload}.{_signature(secret, purpose, payload)}"


def _verified(secret: str, purpose: str, token: str) -> str | None:
    payload, _, signature = token.rpartition(".")
    if not payload or not same_secret(_signature(secret, purpose, payload), signature):
        return None
    return payload


@dataclass(frozen=True)
class PortalLink:
    customer: str
    flow: str | None  # None: the portal home; "payment_method_update": straight to payment methods
    expires_at: int


def portal_link_token(secret: str, link: PortalLink) -> str:
    body = json.dumps({"c": link.customer, "f": link.flow, "x": link.expires_at}, separators=(",", ":"))
    return _signed(secret, "portal link", _b64(body.encode()))


def read_portal_link(secret: str, token: str, *, now: int) -> PortalLink | None:
    """The link a token stands for; None when it was altered or has expired."""
    payload = _verified(secret, "portal link", token)
    if payload is None:
        return None
    try:
        body = json.loads(_unb64(payload))
        link = PortalLink(customer=str(body["c"]), flow=body.get("f"), expires_at=int(body["x"]))
    except (ValueError, KeyError, TypeError):
        return None
    return link if link.expires_at > now else None


def unsubscribe_token(secret: str, customer_id: str) -> str:
    return _signed(secret, "unsubscribe", customer_id)


def read_unsubscribe_token(secret: str, token: str) -> str | None:
    """The customer id an unsubscribe token names, or None."""
    return _verified(secret, "unsubscribe", token)
