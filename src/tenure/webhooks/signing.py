"""Webhook secrets: generated, kept encrypted at rest, and used to sign each request.

Two schemes: Stripe's `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `"{t}.{body}"` keyed by the
secret string, what `stripe.Webhook.construct_event` verifies), and Standard Webhooks
(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` keyed by the base64 part of
the secret). A secret is `whsec_` and 32 base62 characters, which is also valid base64, so the
same secret serves both schemes.

`verify_signature` and `verify_standard_webhooks` check a received request as a receiver should:
signatures compared in constant time, and timestamps more than `tolerance` seconds (5 minutes)
away from now refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from tenure import crypto
from tenure.clock import SystemClock
from tenure.ids import random_token

SECRET_PREFIX = "whsec_"
# How far a signed timestamp may be from the receiver's clock: Stripe's SDKs' default.
DEFAULT_TOLERANCE_SECONDS = 300
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


def _standard_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def standard_webhooks_headers(secret: str, message_id: str, payload: bytes, timestamp: int) -> dict[str, str]:
    """The three Standard Webhooks headers; `message_id` stays the same across retries."""
    signed = f"{message_id}.{timestamp}.".encode() + payload
    signature = base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()).decode()
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


class SignatureVerificationError(ValueError):
    """A webhook request that must be refused: unsigned, signed otherwise, altered, or replayed late."""


def _same(expected: str, presented: str) -> bool:
    # Bytes, not str: `hmac.compare_digest` raises TypeError on non-ASCII text, and headers are untrusted.
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogatepass"))


def _as_bytes(payload: bytes | str) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else payload


def _check_timestamp(raw: str, *, tolerance: int, now: int | None) -> int:
    try:
        timestamp = int(raw)
    except ValueError:
        raise SignatureVerificationError("The signature's timestamp is not a number.") from None
    current = SystemClock().now() if now is None else now
    # Both ways: a stale signature is a replay; one from the future would stay replayable for longer.
    if abs(current - timestamp) > tolerance:
        raise SignatureVerificationError(
            f"The signature's timestamp is more than {tolerance} seconds from now (a replayed request?)."
        )
    return timestamp


def verify_signature(
    secret: str,
    payload: bytes | str,
    header: str | None,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check a `Stripe-Signature` header as `stripe.WebhookSignature.verify_header` does; return its
    timestamp. Any `v1` signature may match (secrets being rolled sign twice)."""
    items = [part.split("=", 1) for part in (header or "").split(",")]
    timestamps = [pair[1].strip() for pair in items if len(pair) == 2 and pair[0].strip() == "t"]
    signatures = [pair[1].strip() for pair in items if len(pair) == 2 and pair[0].strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise SignatureVerificationError("Unable to extract the timestamp and signatures from the header.")
    timestamp = _check_timestamp(timestamps[0], tolerance=tolerance, now=now)
    expected = stripe_signature(secret, _as_bytes(payload), timestamp).partition(",v1=")[2]
    # Every candidate is compared, so the time taken does not tell which one matched.
    matches = [_same(expected, signature) for signature in signatures]
    if not any(matches):
        raise SignatureVerificationError("No signature matches the payload and the secret.")
    return timestamp


def verify_standard_webhooks(
    secret: str,
    payload: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> int:
    """Check the Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`);
    return the timestamp."""
    lowered = {key.lower(): value for key, value in headers.items()}
    message_id = lowered.get("webhook-id")
    raw_timestamp = lowered.get("webhook-timestamp")
    raw_signatures = lowered.get("webhook-signature")
    if not message_id or not raw_timestamp or not raw_signatures:
        raise SignatureVerificationError(
            "The webhook-id, webhook-timestamp and webhook-signature are required."
        )
    timestamp = _check_timestamp(raw_timestamp, tolerance=tolerance, now=now)
    try:
        key = _standard_key(secret)
    except (binascii.Error, ValueError):
        raise SignatureVerificationError("The secret is not a valid signing secret.") from None
    signed = f"{message_id}.{timestamp}.".encode() + _as_bytes(payload)
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    candidates = [
        value
        for version, _, value in (part.partition(",") for part in raw_signatures.split())
        if version == "v1"
    ]
    matches = [_same(expected, candidate) for candidate in candidates]
    if not any(matches):
        raise SignatureVerificationError("No signature matches the payload and the secret.")
    return timestamp
