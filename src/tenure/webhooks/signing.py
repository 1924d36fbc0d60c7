"""Webhook secrets: generated, kept encrypted at rest, and used to sign each request.

Two schemes: Stripe's `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `"{t}.{body}"` keyed by the
secret string, what `stripe.Webhook.construct_event` verifies), and Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` keyed by the base64 part of
the secret). A secret is `whsec_` and 32 base62 characters, which is also valid base64, so the
same secret serves both schemes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from tenure import crypto
from tenure.ids import random_token

SECRET_PREFIX = "whsec_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_secret() -> str:
    return SECRET_PREFIX + random_token(32)


def derived_secret(key_material: str, purpose: str) -> str:
    """A stable `whsec_…` secret derived from the server's secret key (e.g. for `tenure listen`)."""
    digest = hmac.new(key_material.encode(), purpose.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(32):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return SECRET_PREFIX + "".join(chars)


class SecretBox(crypto.SecretBox):
    """Webhook endpoint secrets, sealed with their own key derivation."""

    def __init__(self, key_material: str) -> None:
        super().__init__(key_material, purpose="tenure webhook endpoint secrets")


def stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """The `Stripe-Signature` header value."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def standard_webhooks_headers(secret: str, message_id: str, payload: bytes, timestamp: int) -> dict[str, str]:
    """The three Standard Webhooks headers; `message_id` stays the same across retries."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    signed = f"{message_id}.{timestamp}.".encode() + payload
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


def signature_headers(
    scheme: str, *, secret: str, message_id: str, payload: bytes, timestamp: int
) -> dict[str, str]:
    if scheme == "standard_webhooks":
        return standard_webhooks_headers(secret, message_id, payload, timestamp)
    return {"Stripe-Signature": stripe_signature(secret, payload, timestamp)}
