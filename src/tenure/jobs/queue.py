"""Enqueue and claim background jobs (the transactional outbox).

Jobs are inserted in the transaction of their cause, so they exist if and only if the cause
committed. Workers claim due jobs with a lease; on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED` so concurrent workers never take the same job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tenure.jobs.models import Job

JobHandler = Callable[[Session, dict[str, Any], int], None]

LEASE_SECONDS = 60


@dataclass(frozen=True)
class Claimed:
    pk: int
    kind: str
    payload: dict[str, Any]
    attempts: int


_HANDLERS: dict[str, JobHandler] = {}


def register_handler(kind: str, handler: JobHandler) -> None:
    _HANDLERS[kind] = handler


def handler_for(kind: str) -> JobHandler | None:
    return _HANDLERS.get(kind)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    now: int,
    run_at: int | None = None,
    unique_key: str | None = None,
) -> None:
    """Queue a job in the current transaction; a second job with the same `unique_key` is ignored."""
    values = {
        "kind": kind,
        "payload": payload,
        "run_at": run_at if run_at is not None else now,
        "created": now,
        "attempts": 0,
        "unique_key": unique_key,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Job).values(**values)
    if unique_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["unique_key"])
    session.execute(stmt)


def claim(session: Session, *, now: int, limit: int, kinds: list[str] | None = None) -> list[Claimed]:
    """Lease up to `limit` due jobs to the caller. Commit right after, then run them."""
    stmt = (
        select(Job)
        .where(Job.done_at.is_(None), Job.failed_at.is_(None), Job.run_at <= now)
        .where(or_(Job.locked_until.is_(None), Job.locked_until < now))
        .order_by(Job.run_at, Job.pk)
        .limit(limit)
    )
    if kinds:
        stmt = stmt.where(Job.kind.in_(kinds))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    jobs = list(session.scalars(stmt))
    for job in jobs:
        job.locked_until = now + LEASE_SECONDS
        job.attempts += 1
    session.flush()
    return [Claimed(job.pk, job.kind, dict(job.payload), job.attempts) for job in jobs]
