"""What advancing a test clock runs: steps registered by the features that have time-driven work.

A step tells the next moment it has work due for a clock (up to a limit) and does that work.
Advancing walks the clock through those moments in order, so renewals, retries and scheduled
cancellations happen at their own times, as they would in real time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

from tenure.testclocks.models import TestClock

if TYPE_CHECKING:
    from tenure.runtime import Runtime


class AdvanceStep(Protocol):
    def next_due(self, session: Session, clock: TestClock, until: int) -> int | None:
        """The earliest time <= `until` at which this step has work for objects on `clock`."""
        ...

    def run(self, session: Session, clock: TestClock, now: int, runtime: Runtime) -> None:
        """Do the work due at `now` for objects on `clock`."""
        ...


class DeleteHook(Protocol):
    def __call__(self, session: Session, clock: TestClock) -> None: ...


_STEPS: list[AdvanceStep] = []
_DELETE_HOOKS: list[DeleteHook] = []


def register_step(step: AdvanceStep) -> None:
    if step not in _STEPS:
        _STEPS.append(step)


def register_delete_hook(hook: DeleteHook) -> None:
    if hook not in _DELETE_HOOKS:
        _DELETE_HOOKS.append(hook)


# A bound on work per advance, so a mistaken far-future advance cannot loop forever.
MAX_STEPS_PER_ADVANCE = 100_000


def run_due_work(session: Session, clock: TestClock, until: int, runtime: Runtime) -> None:
    for _ in range(MAX_STEPS_PER_ADVANCE):
        due = [t for step in _STEPS if (t := step.next_due(session, clock, until)) is not None]
        if not due:
            break
        moment = max(min(due), clock.frozen_time)
        clock.frozen_time = moment
        for step in _STEPS:
            if (t := step.next_due(session, clock, moment)) is not None and t <= moment:
                step.run(session, clock, moment, runtime)
        session.flush()
    clock.frozen_time = until


def run_delete_hooks(session: Session, clock: TestClock) -> None:
    for hook in _DELETE_HOOKS:
        hook(session, clock)
