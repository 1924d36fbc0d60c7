"""Test clocks: create, advance (running the work due in between), delete with their objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.testclocks import advance as advancing
from tenure.testclocks.models import TestClock, TestClockStatus
from tenure.testclocks.schemas import serialize_test_clock

if TYPE_CHECKING:
    from tenure.runtime import Runtime

LIFETIME_SECONDS = 30 * 24 * 3600


def get_clock(session: Session, clock_id: str, *, for_update: bool = False) -> TestClock:
    stmt = select(TestClock).where(TestClock.id == clock_id)
    if for_update:
        stmt = stmt.with_for_update()
    clock = session.scalar(stmt)
    if clock is None:
        raise ResourceMissing("test_helpers.test_clock", clock_id)
    return clock


def create_clock(session: Session, *, frozen_time: int, name: str | None, now: int) -> TestClock:
    clock = TestClock(
        id=new_id("clock"),
        created=now,
        frozen_time=frozen_time,
        name=name,
        status=TestClockStatus.READY,
        deletes_after=now + LIFETIME_SECONDS,
    )
    session.add(clock)
    session.flush()
    record_event(session, type="test_helpers.test_clock.created", obj=serialize_test_clock(clock), now=now)
    return clock


def advance_clock(session: Session, clock_id: str, *, frozen_time: int, runtime: Runtime) -> TestClock:
    """Move the clock forward, running every renewal, retry and scheduled change due on the way.

    Stripe advances asynchronously; Tenure does the work inside the request, so the clock comes
    back `ready` and SDK code that polls for `ready` works unchanged.
    """
    now = runtime.clock.now()
    clock = get_clock(session, clock_id, for_update=True)
    if frozen_time <= clock.frozen_time:
        raise InvalidRequest(
            f"The frozen_time must be after the test clock's current frozen_time ({clock.frozen_time}).",
            param="frozen_time",
        )
    clock.status = TestClockStatus.ADVANCING
    record_event(session, type="test_helpers.test_clock.advancing", obj=serialize_test_clock(clock), now=now)
    advancing.run_due_work(session, clock, frozen_time, runtime)
    clock.status = TestClockStatus.READY
    session.flush()
    record_event(session, type="test_helpers.test_clock.ready", obj=serialize_test_clock(clock), now=now)
    return clock


def delete_clock(session: Session, clock_id: str, *, now: int) -> str:
    clock = get_clock(session, clock_id, for_update=True)
    advancing.run_delete_hooks(session, clock)
    record_event(session, type="test_helpers.test_clock.deleted", obj=serialize_test_clock(clock), now=now)
    session.delete(clock)
    session.flush()
    return clock_id


def object_now(session: Session, real_now: int, test_clock_id: str | None) -> int:
    """The current time for an object: its test clock's frozen time if it has one, else real time."""
    if test_clock_id is None:
        return real_now
    return get_clock(session, test_clock_id).frozen_time
