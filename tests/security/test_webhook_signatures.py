"""Webhook signatures: the verifier helpers (`tenure.webhooks.signing.verify_signature` and
`verify_standard_webhooks`) accept exactly what the reference libraries accept — Stripe's SDK and
the Standard Webhooks library — and refuse a request signed more than 5 minutes ago, so a captured
delivery cannot be replayed. Unlike Stripe's SDK they also refuse a timestamp more than 5 minutes
in the future. A real delivery from the worker verifies, and its replay 301 s later does not.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import stripe

from tenure.runtime import Runtime
from tenure.webhooks.signing import (
    SignatureVerificationError,
    standard_webhooks_headers,
    stripe_signature,
    verify_signature,
    verify_standard_webhooks,
)
from tests.security.conftest import World
from tests.webhooks.conftest import Receiver, drive

SECRET = "whsec_" + "Zx9" * 10 + "ab"
OTHER = "whsec_" + "Qw3" * 10 + "cd"
PAYLOAD = b'{"id": "evt_1", "object": "event", "type": "customer.created"}'


def stripe_accepts(payload: bytes, header: str, secret: str) -> bool:
    try:
        return bool(stripe.WebhookSignature.verify_header(payload.decode(), header, secret, tolerance=300))
    except (stripe.SignatureVerificationError, TypeError):  # the SDK raises TypeError on non-ASCII
        return False


def ours_accepts(payload: bytes, header: str, secret: str, *, now: int) -> bool:
    try:
        verify_signature(secret, payload, header, now=now)
    except SignatureVerificationError:
        return False
    return True


def test_the_stripe_scheme_agrees_with_stripes_sdk() -> None:
    now = int(time.time())
    fresh = stripe_signature(SECRET, PAYLOAD, now)
    signature = fresh.partition(",v1=")[2]
    cases = {
        "fresh": (PAYLOAD, fresh, SECRET),
        "4 minutes old": (PAYLOAD, stripe_signature(SECRET, PAYLOAD, now - 240), SECRET),
        "301 s old (a replay)": (PAYLOAD, stripe_signature(SECRET, PAYLOAD, now - 301), SECRET),
        "a day old": (PAYLOAD, stripe_signature(SECRET, PAYLOAD, now - 86_400), SECRET),
        "altered payload": (PAYLOAD.replace(b"evt_1", b"evt_2"), fresh, SECRET),
        "another secret": (PAYLOAD, fresh, OTHER),
        "the timestamp moved": (PAYLOAD, f"t={now - 1},v1={signature}", SECRET),
        "one of two v1 matches (a rolled secret)": (PAYLOAD, f"t={now},v1={'0' * 64},v1={signature}", SECRET),
        "only a v0": (PAYLOAD, f"t={now},v0={signature}", SECRET),
        "no timestamp": (PAYLOAD, f"v1={signature}", SECRET),
        "no signature": (PAYLOAD, f"t={now}", SECRET),
        "garbage": (PAYLOAD, "garbage", SECRET),
        "empty": (PAYLOAD, "", SECRET),
        "non-ASCII": (PAYLOAD, f"t={now},v1=é{signature[1:]}", SECRET),
    }
    for name, (payload, header, secret) in cases.items():
        expected = stripe_accepts(payload, header, secret)
        assert ours_accepts(payload, header, secret, now=now) == expected, name
    accepted = {name for name, case in cases.items() if stripe_accepts(*case)}
    assert accepted == {"fresh", "4 minutes old", "one of two v1 matches (a rolled secret)"}


def test_replays_are_refused_on_both_sides_of_the_window() -> None:
    signed_at = 1_800_000_000
    header = stripe_signature(SECRET, PAYLOAD, signed_at)
    assert verify_signature(SECRET, PAYLOAD, header, now=signed_at + 300) == signed_at
    assert verify_signature(SECRET, PAYLOAD, header, now=signed_at - 300) == signed_at
    for now in (signed_at + 301, signed_at - 301, signed_at + 10**6):
        with pytest.raises(SignatureVerificationError, match="300 seconds"):
            verify_signature(SECRET, PAYLOAD, header, now=now)
    # A receiver may choose its own window.
    assert verify_signature(SECRET, PAYLOAD, header, now=signed_at + 600, tolerance=600) == signed_at
    with pytest.raises(SignatureVerificationError):
        verify_signature(SECRET, PAYLOAD, None, now=signed_at)


def standard_accepts(payload: bytes, headers: dict[str, str]) -> bool:
    try:
        standardwebhooks.Webhook(SECRET).verify(payload.decode(), headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_the_standard_webhooks_scheme_agrees_with_its_library() -> None:
    now = int(time.time())

    def signed(at: int, payload: bytes = PAYLOAD, secret: str = SECRET) -> dict[str, str]:
        return standard_webhooks_headers(secret, "evt_1", payload, at)

    fresh = signed(now)
    cases = {
        "fresh": (PAYLOAD, fresh),
        "301 s old": (PAYLOAD, signed(now - 301)),
        "301 s ahead": (PAYLOAD, signed(now + 301)),
        "altered payload": (PAYLOAD + b" ", fresh),
        "another secret": (PAYLOAD, signed(now, secret=OTHER)),
        "another message id": (PAYLOAD, {**fresh, "webhook-id": "evt_2"}),
        "two signatures, one good": (
            PAYLOAD,
            {**fresh, "webhook-signature": "v1,AAAA " + fresh["webhook-signature"]},
        ),
        "no id": (PAYLOAD, {k: v for k, v in fresh.items() if k != "webhook-id"}),
    }
    for name, (payload, headers) in cases.items():
        try:
            verify_standard_webhooks(SECRET, payload, headers, now=now)
            ours = True
        except SignatureVerificationError:
            ours = False
        assert ours == standard_accepts(payload, headers), name
    moment = datetime.fromtimestamp(now, UTC)
    assert fresh["webhook-signature"] == standardwebhooks.Webhook(SECRET).sign(
        "evt_1", moment, PAYLOAD.decode()
    )


def test_a_real_delivery_verifies_and_its_replay_does_not(world: World, runtime: Runtime) -> None:
    receiver = Receiver()
    try:
        endpoint = world.business.post(
            "/v1/webhook_endpoints", url=receiver.url, **{"enabled_events[0]": "customer.updated"}
        )
        world.api.post(f"/v1/customers/{world.victim.customer}", data={"name": "Victor V."})
        drive(runtime, lambda: len(receiver.snapshot()) >= 1)
    finally:
        receiver.close()
    (delivered,) = receiver.snapshot()
    header = delivered.headers["stripe-signature"]
    signed_at = verify_signature(endpoint["secret"], delivered.body, header)
    assert abs(signed_at - runtime.clock.now()) <= 5
    with pytest.raises(SignatureVerificationError):
        verify_signature(endpoint["secret"], delivered.body, header, now=signed_at + 301)
    with pytest.raises(SignatureVerificationError):
        verify_signature(OTHER, delivered.body, header)
