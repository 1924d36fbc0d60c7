"""Rate limits: per API key on `/v1` (Stripe's 429 `rate_limit`), and per client address on the
dashboard sign-in and the portal's login-link form.

Each limit is a token bucket per key: `burst` requests at once, refilled at `rate` per second. The
buckets live in memory, **per server process** (N `tenure serve` processes allow N times the rate);
nothing is stored in the database and a restart forgets them. A bucket that has refilled completely
carries no information, so it is dropped: memory follows the keys seen in the last `burst / rate`
seconds, and a hard cap bounds it even under a flood of distinct addresses (the least recently seen
key is forgotten first, which at worst gives that key a fresh bucket).

Time here is the process's monotonic clock, not the runtime's `Clock`: a test clock moves billing
time, and must not refill anyone's bucket.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import State

from tenure.api.errors import RateLimited
from tenure.api.responses import error_response
from tenure.config import Settings

MAX_KEYS = 100_000  # ~100 bytes a bucket: a few MiB at worst


class TokenBuckets:
    """One token bucket per key, safe to share between threads."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_keys: int = MAX_KEYS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
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


@dataclass(frozen=True)
class RateLimiters:
    """The limits of one app (None: that limit is off)."""

    api: TokenBuckets | None
    signin: TokenBuckets | None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> RateLimiters:
        api = (
            TokenBuckets(
                rate=settings.rate_limit_api, burst=settings.rate_limit_api_burst, monotonic=monotonic
            )
            if settings.rate_limit_api > 0
            else None
        )
        per_minute = settings.rate_limit_signin
        signin = (
            TokenBuckets(rate=per_minute / 60, burst=per_minute, monotonic=monotonic)
            if per_minute > 0
            else None
        )
        return cls(api=api, signin=signin)


_CREATING = threading.Lock()


def limiters(state: State) -> RateLimiters:
    """The app's limiters (`app.state.rate_limiters`), made from its runtime's settings on first use."""
    found: RateLimiters | None = getattr(state, "rate_limiters", None)
    if found is None:
        with _CREATING:  # sign-in routes run in a thread pool: two first requests must share one
            found = getattr(state, "rate_limiters", None)
            if found is None:
                found = RateLimiters.from_settings(state.runtime.settings)
                state.rate_limiters = found
    return found


def retry_after(wait: float) -> int:
    """Whole seconds for a `Retry-After` header (never 0: that would invite an immediate retry)."""
    return max(1, math.ceil(wait))


def client_address(request: Request) -> str:
    """The TCP peer (uvicorn's `--proxy-headers` decides whether a proxy's `X-Forwarded-For` counts)."""
    return request.client.host if request.client else "unknown"


def api_rate_limited(request: Request, key_id: str) -> Response | None:
    """Stripe's 429 `rate_limit` error when `key_id` is over its limit, else None (spends a token)."""
    buckets = limiters(request.app.state).api
    wait = buckets.take(key_id) if buckets is not None else None
    if wait is None:
        return None
    assert buckets is not None
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
    form has its own buckets; the limit is `TENURE_RATE_LIMIT_SIGNIN` per minute."""
    buckets = limiters(request.app.state).signin
    if buckets is None:
        return None
    wait = buckets.take(f"{form}:{client_address(request)}")
    return None if wait is None else retry_after(wait)
