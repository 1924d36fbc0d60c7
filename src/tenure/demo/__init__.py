"""`tenure demo`: seed a realistic subscription business to explore.

3 products with monthly and yearly prices in EUR and USD, coupons and a promotion code, and a few
hundred customers (English, French, German and Indonesian) whose last 12 months are played through
the real services: sign-ups, trials, renewals, failed payments and dunning, plan changes, pauses
and cancellations with their reasons. The result has subscriptions in every status.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from sqlalchemy import func, select

from tenure import features
from tenure.demo.book import Book, count_by_status
from tenure.demo.catalog import PROMOTION_CODE, catalog_exists, create_catalog
from tenure.demo.lives import DAY, plan_lives
from tenure.invoices.models import Invoice
from tenure.keys.models import ApiKey
from tenure.keys.service import create_key
from tenure.runtime import Runtime
from tenure.subscriptions.periods import add_months
from tenure.testclocks.models import TestClock
from tenure.testclocks.service import create_clock

__all__ = ["DEFAULT_SIZE", "DEMO_KEY_NAME", "seed_demo"]

DEMO_KEY_NAME = "demo"
DEMO_CLOCK_NAME = "Demo clock"
DEFAULT_SIZE = 300
DEFAULT_SEED = 2026


def seed_demo(
    runtime: Runtime,
    *,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Seed the demo business once (about `size` customers) and return a new demo secret key.

    Keys are stored hashed, so each run makes a fresh key and revokes the previous demo key.
    """
    say = progress or (lambda _message: None)
    # The same features as a running Tenure (periodic tasks, test-clock steps).
    features.load()
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        seeded = catalog_exists(session)
    if seeded:
        say("Demo data is already there: not seeding it again.")
    else:
        seed_business(runtime, size=size, seed=seed, end=now, progress=say)
    with runtime.sessionmaker() as session:
        if session.scalar(select(TestClock.pk).where(TestClock.name == DEMO_CLOCK_NAME).limit(1)) is None:
            create_clock(session, frozen_time=now, name=DEMO_CLOCK_NAME, now=now)
        for old in session.scalars(
            select(ApiKey).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))
        ):
            old.revoked_at = now
        _key, secret = create_key(session, now=now, name=DEMO_KEY_NAME)
        session.commit()
    return secret


def seed_business(
    runtime: Runtime, *, size: int, seed: int, end: int, progress: Callable[[str], None]
) -> None:
    """Create the catalog a year before `end`, then play the year up to `end`."""
    started = time.monotonic()
    start = add_months(end, -12)
    progress(f"Seeding the demo business: {size} customers, 12 months of history…")
    with runtime.sessionmaker() as session:
        catalog = create_catalog(session, now=start - 7 * DAY)
        session.commit()
    progress(
        "  catalog: Starter, Team and Business, monthly and yearly, in EUR and USD; "
        f"2 coupons and the promotion code {PROMOTION_CODE}"
    )
    lives = plan_lives(random.Random(seed), size=size, start=start, end=end)
    Book(runtime, catalog, start=start, end=end).play(lives, progress=progress)
    with runtime.sessionmaker() as session:
        statuses = count_by_status(session)
        invoices = session.scalar(select(func.count()).select_from(Invoice))
    summary = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    progress(f"Done in {time.monotonic() - started:.0f} s: {len(lives)} customers, {invoices} invoices.")
    progress(f"  subscriptions: {summary}")
