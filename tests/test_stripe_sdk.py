"""The official `stripe` SDK, unchanged but for its base address, against a real Tenure server."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


def test_test_clock_lifecycle(sdk: stripe.StripeClient) -> None:
    clock = sdk.v1.test_helpers.test_clocks.create({"frozen_time": 1700000000, "name": "sdk"})
    assert isinstance(clock, stripe.test_helpers.TestClock)
    assert clock.name == "sdk"
    listed = sdk.v1.test_helpers.test_clocks.list({"limit": 3})
    assert [c.id for c in listed.data] == [clock.id]
    advanced = sdk.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1700086400})
    assert advanced.frozen_time == 1700086400
    assert advanced.status == "ready"
    assert sdk.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == 1700086400
    deleted = sdk.v1.test_helpers.test_clocks.delete(clock.id)
    assert deleted.deleted is True


def test_sdk_idempotency_key_and_errors(sdk: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "sdk-key-1"}
    first = sdk.v1.test_helpers.test_clocks.create({"frozen_time": 1700000000}, options)
    second = sdk.v1.test_helpers.test_clocks.create({"frozen_time": 1700000000}, options)
    assert first.id == second.id
    with pytest.raises(stripe.IdempotencyError):
        sdk.v1.test_helpers.test_clocks.create({"frozen_time": 1700000001}, options)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.test_helpers.test_clocks.retrieve("clock_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


def test_sdk_with_a_bad_key(live_server: str) -> None:
    bad = stripe.StripeClient("sk_test_wrong000000000000", base_addresses={"api": live_server})
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.test_helpers.test_clocks.list()
