"""The worker: runs queued jobs and periodic tasks (billing runs, purges) until stopped."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from tenure.api.idempotency import purge_expired
from tenure.events.service import EVENTS_RECORDED
from tenure.jobs.models import Job
from tenure.jobs.queue import claim, handler_for
from tenure.runtime import Runtime

log = logging.getLogger(__name__)

PeriodicTask = Callable[[Runtime], int]
_PERIODIC: list[PeriodicTask] = []

MAX_JOB_ATTEMPTS = 25
BATCH = 50


def register_periodic(task: PeriodicTask) -> None:
    """`task(runtime)` runs every poll; it commits its own work and returns how much it did."""
    if task not in _PERIODIC:
        _PERIODIC.append(task)


def _purge_idempotency(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        purge_expired(session, not_before=runtime.clock.now() - runtime.settings.idempotency_ttl_seconds)
        session.commit()
    return 0


register_periodic(_purge_idempotency)


def _backoff(attempts: int) -> int:
    return int(min(3600, 2 ** min(attempts, 12)))


def run_jobs_once(runtime: Runtime, *, limit: int = BATCH) -> int:
    """Claim and run one batch of due jobs; each job commits on its own. Returns how many ran."""
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        claimed = claim(session, now=now, limit=limit)
        session.commit()
    for job in claimed:
        handler = handler_for(job.kind)
        with runtime.sessionmaker() as session:
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                handler(session, job.payload, runtime.clock.now())
                session.execute(
                    update(Job).where(Job.pk == job.pk).values(done_at=runtime.clock.now(), locked_until=None)
                )
                session.commit()
            except Exception:
                session.rollback()
                log.exception("job %s (%s) failed", job.pk, job.kind)
                retry_at = runtime.clock.now() + _backoff(job.attempts)
                values: dict[str, object] = {
                    "last_error": traceback.format_exc()[-4000:],
                    "locked_until": None,
                    "run_at": retry_at,
                }
                if job.attempts >= MAX_JOB_ATTEMPTS:
                    values["failed_at"] = runtime.clock.now()
                session.execute(update(Job).where(Job.pk == job.pk).values(**values))
                session.commit()
    return len(claimed)


def run_once(runtime: Runtime) -> int:
    """One pass: the event log's consumers catch up, every periodic task runs, the consumers catch
    up with what those recorded, then queued jobs run until none is due. Returns the work done."""
    # Imported here: the consumers' modules (webhooks, notifications) import this one.
    from tenure.consumers import drain

    done = drain(runtime)
    for task in list(_PERIODIC):
        try:
            done += task(runtime)
        except Exception:
            log.exception("periodic task %s failed", getattr(task, "__name__", task))
    done += drain(runtime)
    while (ran := run_jobs_once(runtime)) > 0:
        done += ran
    return done


def run_forever(runtime: Runtime, stop: threading.Event, wake: threading.Event | None = None) -> None:
    """Run passes until `stop`; an idle worker sleeps `worker_poll_seconds`, or until `wake`."""
    log.info("worker started (%s)", runtime.database_kind)
    wake = wake or stop
    while not stop.is_set():
        try:
            worked = run_once(runtime)
        except Exception:
            log.exception("worker pass failed")
            worked = 0
        if not worked:
            wake.wait(runtime.settings.worker_poll_seconds)
            if wake is not stop:
                wake.clear()
    log.info("worker stopped")


class _Stop(threading.Event):
    """Stopping also wakes the worker from its idle wait."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


def start_in_thread(runtime: Runtime) -> tuple[threading.Thread, threading.Event]:
    """The embedded worker: woken as soon as a transaction of this process commits events, so
    that their consumers follow within a pass rather than a poll interval."""
    wake = threading.Event()
    stop = _Stop(wake)

    def _after_commit(session: Session) -> None:
        if session.info.pop(EVENTS_RECORDED, False):
            wake.set()

    def _after_rollback(session: Session, _previous: object) -> None:
        session.info.pop(EVENTS_RECORDED, None)

    event.listen(runtime.sessionmaker, "after_commit", _after_commit)
    event.listen(runtime.sessionmaker, "after_soft_rollback", _after_rollback)
    thread = threading.Thread(
        target=run_forever, args=(runtime, stop, wake), name="tenure-worker", daemon=True
    )
    thread.start()
    return thread, stop
