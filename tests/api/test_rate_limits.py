"""Rate limits per API key: token buckets (burst, refill, isolation, bounded memory) and Stripe's 429
`rate_limit` error on `/v1`, which the official SDK raises as `RateLimitError`."""

from __future__ import annotations

from pathlib import Path

import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.audit.models import AuditEntry
from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.keys.service import create_key
from tenure.ratelimit import RateLimiters, TokenBuckets
from tenure.runtime import Runtime


class FakeMonotonic:
    """A monotonic clock the test moves by hand (the limiter never sleeps nor reads real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def install(app: FastAPI, runtime: Runtime, clock: FakeMonotonic, *, rate: float, burst: int) -> None:
    """The app's limiters, as `TENURE_RATE_LIMIT_API=rate` and `…_BURST=burst` would make them."""
    settings = runtime.settings.model_copy(update={"rate_limit_api": rate, "rate_limit_api_burst": burst})
    app.state.rate_limiters = RateLimiters.from_settings(settings, monotonic=clock)


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(rate=2, burst=3, monotonic=clock)
    assert [buckets.take("k") for _ in range(3)] == [None, None, None]
    assert buckets.take("k") == pytest.approx(0.5)  # one token every half second
    clock.now += 0.5
    assert buckets.take("k") is None
    assert buckets.take("k") == pytest.approx(0.5)
    clock.now += 60  # a long pause refills the burst, never more
    assert [buckets.take("k") for _ in range(4)][-2:] == [None, pytest.approx(0.5)]


def test_keys_have_their_own_buckets() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(rate=1, burst=1, monotonic=clock)
    assert buckets.take("a") is None
    assert buckets.take("a") is not None
    assert buckets.take("b") is None


def test_idle_buckets_are_forgotten_and_the_count_is_capped() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(rate=10, burst=20, monotonic=clock)
    for n in range(1000):
        buckets.take(f"ip-{n}")
    assert len(buckets) == 1000
    clock.now += 2.0  # burst / rate: every one of them is full again, so holds nothing
    buckets.take("another")
    assert len(buckets) == 1

    capped = TokenBuckets(rate=1, burst=5, max_keys=10, monotonic=clock)
    for n in range(50):  # a flood of distinct addresses at one instant
        capped.take(f"ip-{n}")
    assert len(capped) == 10


def test_zero_disables_a_limit(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_api=0, rate_limit_signin=0)
    assert RateLimiters.from_settings(settings) == RateLimiters(api=None, signin=None)
    on = RateLimiters.from_settings(Settings(data_dir=tmp_path, rate_limit_signin=6))
    assert on.api is not None and (on.api.rate, on.api.burst) == (100, 200)  # Stripe's live mode
    assert on.signin is not None and (on.signin.rate, on.signin.burst) == (0.1, 6)  # 6 a minute
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)


def test_429_rate_limit_after_the_burst_per_key_until_refilled(
    app: FastAPI, runtime: Runtime, client: TestClient
) -> None:
    clock = FakeMonotonic()
    install(app, runtime, clock, rate=1, burst=3)
    assert [client.get("/v1/customers").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/v1/customers")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert "Too many requests" in error["message"] and "param" not in error
    assert refused.headers["retry-after"] == "1"

    with runtime.sessionmaker() as session:
        _key, other = create_key(session, now=runtime.clock.now(), name="other")
        session.commit()
    assert client.get("/v1/customers", headers={"Authorization": f"Bearer {other}"}).status_code == 200

    clock.now += 1
    assert client.get("/v1/customers").status_code == 200
    assert client.get("/v1/customers").status_code == 429


def test_a_refused_request_changes_and_stores_nothing(
    app: FastAPI, runtime: Runtime, client: TestClient
) -> None:
    clock = FakeMonotonic()
    install(app, runtime, clock, rate=1, burst=1)
    assert client.post("/v1/customers", data={"email": "a@example.com"}).status_code == 200
    again = client.post("/v1/customers", data={"email": "b@example.com"}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 429
    with runtime.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 1
    # The 429 was not stored under the idempotency key: once allowed, the request really runs.
    clock.now += 1
    retried = client.post("/v1/customers", data={"email": "b@example.com"}, headers={"Idempotency-Key": "k1"})
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


def test_the_sdk_raises_rate_limit_error(
    app: FastAPI, runtime: Runtime, live_server: str, secret_key: str
) -> None:
    install(app, runtime, FakeMonotonic(), rate=1, burst=2)
    sdk = stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)
    sdk.v1.customers.list({"limit": 1})
    sdk.v1.customers.create({"email": "sdk@example.com"})
    with pytest.raises(stripe.RateLimitError) as raised:
        sdk.v1.customers.create({"email": "late@example.com"})
    assert raised.value.http_status == 429
    # The SDK builds a 429 from the status alone; the body's error is there as Stripe sends it.
    assert raised.value.error is not None and raised.value.error.code == "rate_limit"
    assert raised.value.headers is not None and raised.value.headers["Retry-After"] == "1"
