"""The worker: runs queued jobs and periodic tasks (billing runs, purges) until stopped."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

from sqlalchemy import update

from tenure.api.idempotency import purge_expired
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
    """One pass: every periodic task, then queued jobs until none is due. Returns the work done."""
    done = 0
    for task in list(_PERIODIC):
        try:
            done += task(runtime)
        except Exception:
            log.exception("periodic task %s failed", getattr(task, "__name__", task))
    while (ran := run_jobs_once(runtime)) > 0:
        done += ran
    return done


def run_forever(runtime: Runtime, stop: threading.Event) -> None:
    log.info("worker started (%s)", runtime.database_kind)
    while not stop.is_set():
        try:
            worked = run_once(runtime)
        except Exception:
            log.exception("worker pass failed")
            worked = 0
        if not worked:
            stop.wait(runtime.settings.worker_poll_seconds)
    log.info("worker stopped")


def start_in_thread(runtime: Runtime) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(runtime, stop), name="tenure-worker", daemon=True)
    thread.start()
    return thread, stop
