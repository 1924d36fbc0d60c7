"""Rate limits per API key: token buckets (burst, refill, isolation, bounded memory) and Stripe's 429
`rate_limit` error on `/v1`, which the official SDK raises as `RateLimitError`. On PostgreSQL the
buckets are rows every server shares, spent by one statement each; the HTTP tests run on whichever
backend the test's database chooses, with a clock the test moves."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.app import create_app
from tenure.audit.models import AuditEntry
from tenure.config import Settings
from tenure.customers.models import Customer
from tenure.keys.service import create_key
from tenure.ratelimit import DatabaseBuckets, RateLimiters, TokenBuckets
from tenure.ratelimit_models import RateLimitBucket
from tenure.runtime import Runtime


class FakeMonotonic:
    """A monotonic clock the test moves by hand (the limiter never sleeps nor reads real time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def moment(self) -> datetime:
        """The same time as the database's clock would give it (for `DatabaseBuckets`)."""
        return datetime.fromtimestamp(self.now, UTC)


def limiters_on(runtime: Runtime, settings: Settings, clock: FakeMonotonic) -> RateLimiters:
    """The limiters `settings` make, where the runtime's database keeps them (as `create_app` chooses),
    on the test's clock: PostgreSQL's in the database, SQLite's in memory."""
    if runtime.database_kind == "postgresql":
        return RateLimiters.in_database(settings, runtime.engine, clock=clock.moment)
    return RateLimiters.from_settings(settings, monotonic=clock)


def install(app: FastAPI, runtime: Runtime, clock: FakeMonotonic, *, rate: float, burst: int) -> None:
    """The app's limiters, as `TENURE_RATE_LIMIT_API=rate` and `…_BURST=burst` would make them."""
    settings = runtime.settings.model_copy(update={"rate_limit_api": rate, "rate_limit_api_burst": burst})
    app.state.rate_limiters = limiters_on(runtime, settings, clock)


@pytest.fixture
def postgres(runtime: Runtime) -> Runtime:
    if runtime.database_kind != "postgresql":
        pytest.skip("buckets in the database are PostgreSQL's (SQLite keeps them in memory)")
    return runtime


def stored(runtime: Runtime) -> dict[str, float]:
    with runtime.sessionmaker() as session:
        return {row.key: row.tokens for row in session.scalars(select(RateLimitBucket))}


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


def test_the_buckets_live_where_the_database_says(app: FastAPI, runtime: Runtime) -> None:
    limiters = app.state.rate_limiters
    kind = DatabaseBuckets if runtime.database_kind == "postgresql" else TokenBuckets
    assert isinstance(limiters.api, kind) and isinstance(limiters.signin, kind)
    assert (limiters.api.rate, limiters.api.burst) == (100, 200)
    assert (limiters.signin.rate, limiters.signin.burst) == (0.5, 30)


def test_a_keys_limit_holds_across_servers_sharing_postgresql(settings: Settings) -> None:
    """Two apps on one database (two servers): PostgreSQL gives a key one bucket for both; SQLite's
    buckets are each process's own, so there each server allows the burst."""
    settings = settings.model_copy(update={"rate_limit_api": 0.001, "rate_limit_api_burst": 4})
    runtimes = [Runtime.build(settings) for _ in range(2)]
    try:
        with runtimes[0].sessionmaker() as session:
            _key, secret = create_key(session, now=runtimes[0].clock.now(), name="shared")
            session.commit()
        headers = {"Authorization": f"Bearer {secret}"}
        with (
            TestClient(create_app(runtimes[0]), headers=headers) as one,
            TestClient(create_app(runtimes[1]), headers=headers) as two,
        ):
            answers = [server.get("/v1/customers").status_code for _ in range(6) for server in (one, two)]
        allowed = answers.count(200)
        assert allowed == (4 if settings.database_kind == "postgresql" else 8), answers
        assert set(answers) == {200, 429}
    finally:
        for runtime in runtimes:
            runtime.close()


def test_database_buckets_allow_the_burst_then_refill_at_the_rate(postgres: Runtime) -> None:
    clock = FakeMonotonic()
    buckets = DatabaseBuckets(postgres.engine, scope="t", rate=2, burst=3, clock=clock.moment)
    assert [buckets.take("k") for _ in range(3)] == [None, None, None]
    assert buckets.take("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("k") is None
    assert buckets.take("k") == pytest.approx(0.5)
    clock.now += 0.25  # half a token: still refused, and the refusal spends nothing
    assert buckets.take("k") == pytest.approx(0.25)
    assert buckets.take("k") == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("k") is None
    clock.now += 60  # a long pause refills the burst, never more
    assert [buckets.take("k") for _ in range(4)][-2:] == [None, pytest.approx(0.5)]
    assert stored(postgres) == {"t:k": pytest.approx(0.0)}


def test_database_buckets_are_per_key_and_per_limit(postgres: Runtime) -> None:
    clock = FakeMonotonic()
    limiters = RateLimiters.in_database(
        postgres.settings.model_copy(update={"rate_limit_api": 1, "rate_limit_api_burst": 1}),
        postgres.engine,
        clock=clock.moment,
    )
    assert limiters.api is not None and limiters.signin is not None
    assert limiters.api.take("a") is None
    assert limiters.api.take("a") == pytest.approx(1.0)
    assert limiters.api.take("b") is None
    assert limiters.signin.take("a") is None  # the sign-in forms' buckets are apart from the API's
    assert set(stored(postgres)) == {"api:a", "api:b", "signin:a"}


def test_database_and_memory_buckets_agree(postgres: Runtime) -> None:
    """The same requests at the same moments get the same answers from both kinds of buckets
    (moments a binary fraction apart, so that both compute exactly)."""
    rng = random.Random(7)
    clock = FakeMonotonic()
    memory = TokenBuckets(rate=2, burst=3, monotonic=clock)
    database = DatabaseBuckets(postgres.engine, scope="t", rate=2, burst=3, clock=clock.moment)
    answers = []
    for _ in range(300):
        clock.now += rng.choice((0, 0, 0, 0, 0.125, 0.25, 0.5, 2.0))
        key = rng.choice("ab")
        expected, got = memory.take(key), database.take(key)
        answers.append(expected)
        assert (expected is None) == (got is None)
        if expected is not None:
            assert got == pytest.approx(expected, abs=1e-9)
    assert answers.count(None) > 50 and len(answers) - answers.count(None) > 50  # both paths taken


def test_a_clock_going_back_refills_nothing(postgres: Runtime) -> None:
    """A statement whose reading is older than the bucket's (it waited for the row's lock, or the
    database's clock stepped back) counts no time at all, and never moves the bucket back."""
    clock = FakeMonotonic()
    buckets = DatabaseBuckets(postgres.engine, scope="t", rate=1, burst=2, clock=clock.moment)
    assert buckets.take("k") is None
    clock.now -= 5
    assert buckets.take("k") is None
    assert buckets.take("k") == pytest.approx(1.0)
    clock.now += 5.5  # half a second after the bucket's own time, not five and a half
    assert buckets.take("k") == pytest.approx(0.5)


def test_full_database_buckets_are_purged(postgres: Runtime) -> None:
    clock = FakeMonotonic()
    buckets = DatabaseBuckets(postgres.engine, scope="t", rate=1, burst=2, clock=clock.moment)
    buckets.take("early")
    buckets.take("early")
    clock.now += 1
    buckets.take("late")
    buckets.take("late")
    clock.now += 1  # "early" is full again (2 tokens back after 2 s), "late" lacks one
    assert buckets.purge() == 1
    assert set(stored(postgres)) == {"t:late"}
    clock.now += 1
    assert buckets.purge() == 1
    assert stored(postgres) == {}


def test_a_server_purges_full_buckets_in_passing(postgres: Runtime) -> None:
    clock = FakeMonotonic()
    buckets = DatabaseBuckets(
        postgres.engine, scope="t", rate=1, burst=1, clock=clock.moment, purge_every=30, monotonic=clock
    )
    buckets.take("idle")
    clock.now += 10
    buckets.take("busy")
    assert set(stored(postgres)) == {"t:idle", "t:busy"}
    clock.now += 20.5  # the purge is due; "busy" is full too by now, but its own request refills it
    buckets.take("busy")
    assert set(stored(postgres)) == {"t:busy"}


@pytest.fixture
def second_engine(postgres: Runtime) -> Iterator[Runtime]:
    other = Runtime.build(postgres.settings)
    yield other
    other.close()


def test_concurrent_requests_from_two_servers_never_overspend(
    postgres: Runtime, second_engine: Runtime
) -> None:
    """Threads of two servers (two engines: two pools) racing for one key, on the database's own
    clock: the burst is granted exactly once in all, whoever asks."""
    servers = [
        DatabaseBuckets(runtime.engine, scope="api", rate=0.001, burst=25)
        for runtime in (postgres, second_engine)
    ]
    granted: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def hammer(buckets: DatabaseBuckets) -> None:
        start.wait()
        mine = sum(1 for _ in range(20) if buckets.take("key_race") is None)
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=hammer, args=(servers[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(granted) == 25  # 160 asked; 0.001 a second refills nothing meanwhile
    assert stored(postgres)["api:key_race"] < 1


def test_zero_rate_or_burst_is_refused_by_database_buckets(postgres: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        DatabaseBuckets(postgres.engine, scope="t", rate=0, burst=1)
    assert RateLimiters.in_database(
        Settings(data_dir=tmp_path, rate_limit_api=0, rate_limit_signin=0), postgres.engine
    ) == RateLimiters(api=None, signin=None)


def test_the_buckets_table_is_unlogged_on_postgresql(postgres: Runtime) -> None:
    """No WAL for a write on every API request; a crash empties it, which only refills the buckets."""
    with postgres.engine.connect() as connection:
        persistence = connection.exec_driver_sql(
            "SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_buckets'"
        ).scalar_one()
    assert persistence == "u"
