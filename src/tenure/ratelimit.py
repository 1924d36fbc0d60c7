"""Rate limits: per API key on `/v1` (Stripe's 429 `rate_limit`), and per client address on the
dashboard sign-in and the portal's login-link form.

Each limit is a token bucket per key: `burst` requests at once, refilled at `rate` per second; a
refused request spends nothing. Where the buckets live is chosen once, when the app is built, from
its database (`RateLimiters.for_runtime`):

- **PostgreSQL**: in the `rate_limit_buckets` table, shared by every `tenure serve` process on every
  machine, so a limit holds however requests are spread over servers. One statement per request
  refills and spends a bucket atomically (`DatabaseBuckets`), timed by the database's own clock, so
  servers whose clocks disagree still share one rate.
- **SQLite** (one machine): in memory, per server process (`TokenBuckets`; N processes of
  `tenure serve --workers N` allow N times the rate); a restart forgets them.

A bucket that has refilled completely carries no information, so it is dropped: in memory at once
(memory follows the keys seen in the last `burst / rate` seconds, with a hard cap that forgets the
least recently seen key first under a flood of distinct addresses), in the database by each server
now and then.

Time is never the runtime's `Clock`: a test clock moves billing time, and must not refill anyone's
bucket. In memory it is the process's monotonic clock; in the database, `clock_timestamp()`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from fastapi import Request, Response
from sqlalchemy import DateTime, Engine, TextClause, bindparam, text
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from tenure.api.errors import RateLimited
from tenure.api.responses import error_response
from tenure.config import Settings

if TYPE_CHECKING:
    from tenure.runtime import Runtime

MAX_KEYS = 100_000  # ~100 bytes a bucket: a few MiB at worst
# How often each server deletes the database's full buckets (in passing, after one request's check).
PURGE_SECONDS = 60.0


class Buckets(Protocol):
    """Token buckets, one per key: `take` spends a token of a key's bucket."""

    @property
    def rate(self) -> float: ...

    @property
    def burst(self) -> int: ...

    def take(self, key: str) -> float | None:
        """None when the request may go ahead, else the seconds until a token is back (a refused
        request spends nothing). May block (a database round trip): call it off the event loop."""
        ...


def _check(rate: float, burst: int) -> None:
    if rate <= 0 or burst < 1:
        raise ValueError("a token bucket needs a positive rate and burst")


class TokenBuckets:
    """One token bucket per key in this process's memory, safe to share between threads."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_keys: int = MAX_KEYS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(rate, burst)
        if max_keys < 1:
            raise ValueError("a token bucket needs a positive rate, burst and size")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._monotonic = monotonic
        # key -> (tokens left, when they were counted); least recently touched first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float | None:
        """Spend one token of `key`'s bucket: None when the request may go ahead, else the seconds
        until a token is back (a refused request spends nothing)."""
        with self._lock:
            now = self._monotonic()
            self._forget_idle(now)
            tokens, counted = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(now - counted, 0.0) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # Untouched for burst/rate seconds means full again: the same as no bucket at all.
        full_after = self.burst / self.rate
        while self._buckets:
            key, (_tokens, counted) = next(iter(self._buckets.items()))
            if now - counted < full_after and len(self._buckets) < self.max_keys:
                return
            del self._buckets[key]


# Refill `:key`'s bucket up to the clock's reading and spend a token if there is one; answer whether
# it was (`granted`) and the tokens left. A new key starts full (`:burst`, less the token it spends).
# A refused request keeps the tokens it had, recounted at the reading: it spends nothing. Atomic
# however many servers run it at once: the row stays locked from the conflict to the commit. The
# clock is read once; a reading older than the bucket's (it waited for the lock, or the clock went
# back) refills nothing rather than count the same time twice. `full_at` says when the bucket is full
# again, from when on the row may be deleted.
SPEND = """
INSERT INTO rate_limit_buckets AS bucket (key, tokens, counted_at, full_at, granted)
SELECT :key, :burst - 1, clock.now, clock.now + make_interval(secs => 1 / :rate), true
FROM (SELECT {clock} AS now) AS clock
ON CONFLICT (key) DO UPDATE SET (tokens, counted_at, full_at, granted) = (
    SELECT spent.tokens, moment.now, moment.now + make_interval(secs => (:burst - spent.tokens) / :rate),
           refill.tokens >= 1
    FROM (SELECT GREATEST(bucket.counted_at, excluded.counted_at) AS now) AS moment,
    LATERAL (
        SELECT LEAST(
            :burst, bucket.tokens + EXTRACT(EPOCH FROM moment.now - bucket.counted_at)::float8 * :rate
        ) AS tokens
    ) AS refill,
    LATERAL (SELECT refill.tokens - CASE WHEN refill.tokens >= 1 THEN 1 ELSE 0 END AS tokens) AS spent
)
RETURNING granted, tokens
"""
# Every bucket full again, of any limit: each says no more than a missing row would.
PURGE = "DELETE FROM rate_limit_buckets WHERE full_at <= {clock}"
DATABASE_CLOCK = "clock_timestamp()"


class DatabaseBuckets:
    """One token bucket per key in PostgreSQL's `rate_limit_buckets`, shared by every server.

    `scope` keeps limits apart in the one table (`api:…`, `signin:…`). Time is the database's clock,
    unless a test gives its own (`clock`, read at each statement). Each check is one autocommitted
    statement; every `purge_every` seconds, one of them also deletes the buckets that are full."""

    def __init__(
        self,
        engine: Engine,
        *,
        scope: str,
        rate: float,
        burst: int,
        clock: Callable[[], datetime] | None = None,
        purge_every: float = PURGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(rate, burst)
        self.rate = rate
        self.burst = burst
        self.scope = scope
        # One statement needs no transaction around it: no BEGIN and COMMIT round trips.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        reading = DATABASE_CLOCK if clock is None else "CAST(:now AS timestamptz)"
        self._spend: TextClause = text(SPEND.format(clock=reading)).bindparams(
            rate=float(rate), burst=float(burst)
        )
        self._purge: TextClause = text(PURGE.format(clock=reading))
        if clock is not None:
            now = bindparam("now", callable_=clock, type_=DateTime(timezone=True))
            self._spend = self._spend.bindparams(now)
            self._purge = self._purge.bindparams(now)
        self._purge_every = purge_every
        self._monotonic = monotonic
        self._next_purge = monotonic() + purge_every
        self._purging = threading.Lock()

    def take(self, key: str) -> float | None:
        """Spend one token of `key`'s bucket: None when the request may go ahead, else the seconds
        until a token is back (a refused request spends nothing)."""
        with self._engine.connect() as connection:
            granted, tokens = connection.execute(self._spend, {"key": f"{self.scope}:{key}"}).one()
            if self._purge_due():
                connection.execute(self._purge)
        return None if granted else (1 - float(tokens)) / self.rate

    def purge(self) -> int:
        """Delete every full bucket now (of any limit); returns how many."""
        with self._engine.connect() as connection:
            return connection.execute(self._purge).rowcount

    def _purge_due(self) -> bool:
        with self._purging:
            now = self._monotonic()
            if now < self._next_purge:
                return False
            self._next_purge = now + self._purge_every
            return True


@dataclass(frozen=True)
class Limit:
    """A limit's settings: `burst` requests at once, `rate` more per second."""

    rate: float
    burst: int


def _limits(settings: Settings) -> tuple[Limit | None, Limit | None]:
    """The API's limit per key and the sign-in forms' per address (None: off)."""
    api = (
        Limit(settings.rate_limit_api, settings.rate_limit_api_burst) if settings.rate_limit_api > 0 else None
    )
    per_minute = settings.rate_limit_signin
    return api, Limit(per_minute / 60, per_minute) if per_minute > 0 else None


@dataclass(frozen=True)
class RateLimiters:
    """The limits of one app (None: that limit is off)."""

    api: Buckets | None
    signin: Buckets | None

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> RateLimiters:
        """Chosen once, when the app is built: in PostgreSQL, where every server shares them; in
        memory with SQLite, which one machine serves."""
        if runtime.database_kind == "postgresql":
            return cls.in_database(runtime.settings, runtime.engine)
        return cls.from_settings(runtime.settings)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> RateLimiters:
        """Buckets in this process's memory."""
        api, signin = _limits(settings)
        return cls(
            api=TokenBuckets(rate=api.rate, burst=api.burst, monotonic=monotonic) if api else None,
            signin=TokenBuckets(rate=signin.rate, burst=signin.burst, monotonic=monotonic)
            if signin
            else None,
        )

    @classmethod
    def in_database(
        cls, settings: Settings, engine: Engine, *, clock: Callable[[], datetime] | None = None
    ) -> RateLimiters:
        """Buckets in PostgreSQL's `rate_limit_buckets`, shared by every server using `engine`'s database."""
        api, signin = _limits(settings)

        def buckets(scope: str, limit: Limit | None) -> DatabaseBuckets | None:
            if limit is None:
                return None
            return DatabaseBuckets(engine, scope=scope, rate=limit.rate, burst=limit.burst, clock=clock)

        return cls(api=buckets("api", api), signin=buckets("signin", signin))


def limiters(state: State) -> RateLimiters:
    """The app's limiters (`app.state.rate_limiters`, set by `create_app`)."""
    found: RateLimiters = state.rate_limiters
    return found


def retry_after(wait: float) -> int:
    """Whole seconds for a `Retry-After` header (never 0: that would invite an immediate retry)."""
    return max(1, math.ceil(wait))


def client_address(request: Request) -> str:
    """The TCP peer (uvicorn's `--proxy-headers` decides whether a proxy's `X-Forwarded-For` counts)."""
    return request.client.host if request.client else "unknown"


async def api_rate_limited(request: Request, key_id: str) -> Response | None:
    """Stripe's 429 `rate_limit` error when `key_id` is over its limit, else None (spends a token).
    With PostgreSQL the check is a database round trip, so it runs in the thread pool; in memory it
    only takes a lock, and runs here."""
    buckets = limiters(request.app.state).api
    if buckets is None:
        return None
    if isinstance(buckets, TokenBuckets):
        wait = buckets.take(key_id)
    else:
        wait = await run_in_threadpool(buckets.take, key_id)
    if wait is None:
        return None
    seconds = retry_after(wait)
    response = error_response(
        RateLimited(
            f"Too many requests with this API key: at most {buckets.rate:g} per second (bursts of "
            f"{buckets.burst}). Retry after {seconds} second{'s' if seconds > 1 else ''}, backing off "
            "exponentially."
        )
    )
    response.headers["Retry-After"] = str(seconds)
    return response


def signin_wait(request: Request, form: str) -> int | None:
    """Seconds the client address must wait before posting `form` again (None: go ahead). Each sign-in
    form has its own buckets; the limit is `TENURE_RATE_LIMIT_SIGNIN` per minute. Called from the
    forms' routes, which run in the thread pool (the check may be a database round trip)."""
    buckets = limiters(request.app.state).signin
    if buckets is None:
        return None
    wait = buckets.take(f"{form}:{client_address(request)}")
    return None if wait is None else retry_after(wait)
