"""`tenure demo`: seed a store with data to explore. Grows as features land."""

from __future__ import annotations

from sqlalchemy import select

from tenure.keys.models import ApiKey
from tenure.keys.service import create_key
from tenure.runtime import Runtime
from tenure.testclocks.models import TestClock
from tenure.testclocks.service import create_clock

DEMO_KEY_NAME = "demo"


def seed_demo(runtime: Runtime) -> str | None:
    """Seed once; returns a new secret key for the demo (keys are stored hashed, so a fresh one each run)."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        if session.scalar(select(TestClock.pk).limit(1)) is None:
            create_clock(session, frozen_time=now, name="Demo clock", now=now)
        for old in session.scalars(
            select(ApiKey).where(ApiKey.name == DEMO_KEY_NAME, ApiKey.revoked_at.is_(None))
        ):
            old.revoked_at = now
        _key, secret = create_key(session, now=now, name=DEMO_KEY_NAME)
        session.commit()
    return secret
