"""The worker's email pass: claim due outbox rows, compose each once, send it, record the outcome.

A row is leased before sending (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two workers never
take the same one) and marked sent after. A worker that dies in between leaves the lease to expire
and the email is sent again, byte for byte the same (same `Message-ID`): delivery is at least once,
and "once per cause" is the outbox's unique `cause_key`. A refusal that may pass (connection
refused, 4xx) is retried with growing delays; a recipient refused for good (5xx) is `failed`.
"""

from __future__ import annotations

import email
import email.policy
import logging
from email.message import EmailMessage

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tenure.config import Settings
from tenure.crypto import SecretBox
from tenure.notifications.compose import NotSent, compose
from tenure.notifications.mailer import Mailer, PermanentFailure, mailer_for
from tenure.notifications.models import MessageStatus, OutboxMessage
from tenure.runtime import Runtime

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
BATCH = 20
MAX_BATCHES_PER_PASS = 50
MAX_ATTEMPTS = 30  # with the delays below, about a day of retries


def retry_delay(attempts: int) -> int:
    """30 s after the first failure, doubling, at most an hour apart."""
    return int(min(3600, 30 * 2 ** max(attempts - 1, 0)))


def outbox_box(settings: Settings) -> SecretBox:
    """Seals stored messages: they may hold sign-in links, which must not be readable in the database."""
    return SecretBox(settings.resolved_secret_key(), purpose="tenure email outbox")


def parse_raw(raw: str) -> EmailMessage:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def claim(session: Session, *, now: int, limit: int) -> list[int]:
    """Lease up to `limit` due messages to the caller; commit right after, then send them."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == MessageStatus.QUEUED)
        .where(or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
        .where(or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now))
        .order_by(OutboxMessage.pk)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    for row in rows:
        row.locked_until = now + LEASE_SECONDS
        row.attempts += 1
    session.flush()
    return [row.pk for row in rows]


def send_due(runtime: Runtime) -> int:
    """Periodic task: send every due email. Returns how many rows were worked on."""
    mailer = mailer_for(runtime.settings)
    box = outbox_box(runtime.settings)
    done = 0
    for _ in range(MAX_BATCHES_PER_PASS):
        with runtime.sessionmaker() as session:
            claimed = claim(session, now=runtime.clock.now(), limit=BATCH)
            session.commit()
        if not claimed:
            break
        for pk in claimed:
            deliver(runtime, mailer, box, pk)
            done += 1
    return done


def _prepared(runtime: Runtime, box: SecretBox, pk: int) -> tuple[EmailMessage, str, int] | None:
    """The message to send for row `pk` (composed and stored on the first attempt), or None when
    there is nothing to send (already done, or nobody to send it to)."""
    with runtime.sessionmaker() as session:
        row = session.get(OutboxMessage, pk)
        if row is None or row.status != MessageStatus.QUEUED:
            return None
        raw = None
        if row.raw is not None:
            try:
                raw = box.decrypt(row.raw)
            except ValueError:  # the secret key changed: compose it again
                raw = None
        if raw is None:
            result = compose(session, row, settings=runtime.settings, now=runtime.clock.now())
            if isinstance(result, NotSent):
                row.status, row.last_error, row.locked_until = result.status, result.reason, None
                session.commit()
                return None
            raw = result.message.as_string()
            row.to_address, row.locale, row.subject = result.to, result.locale, result.subject
            row.message_id = str(result.message["Message-ID"])
            row.raw = box.encrypt(raw)
            session.commit()
        return parse_raw(raw), row.id, row.attempts


def deliver(runtime: Runtime, mailer: Mailer, box: SecretBox, pk: int) -> None:
    try:
        prepared = _prepared(runtime, box, pk)
    except Exception as exc:  # a bug composing one email must not stop the others
        log.exception("composing email %s failed", pk)
        _failed_attempt(runtime, pk, error=f"{type(exc).__name__}: {exc}", attempts=None, permanent=False)
        return
    if prepared is None:
        return
    message, reference, attempts = prepared
    try:
        path = mailer.send(message, reference=reference)
    except PermanentFailure as exc:
        log.warning("email %s refused for good: %s", reference, exc)
        _failed_attempt(runtime, pk, error=str(exc), attempts=attempts, permanent=True)
        return
    except Exception as exc:
        log.warning("email %s not sent (attempt %s): %s", reference, attempts, exc)
        _failed_attempt(runtime, pk, error=str(exc), attempts=attempts, permanent=False)
        return
    with runtime.sessionmaker() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.pk == pk, OutboxMessage.status == MessageStatus.QUEUED)
            .values(
                status=MessageStatus.SENT,
                sent_at=runtime.clock.now(),
                eml_path=path,
                locked_until=None,
                last_error=None,
            )
        )
        session.commit()


def _failed_attempt(runtime: Runtime, pk: int, *, error: str, attempts: int | None, permanent: bool) -> None:
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        row = session.get(OutboxMessage, pk)
        if row is None or row.status != MessageStatus.QUEUED:
            return
        tries = attempts if attempts is not None else row.attempts
        row.last_error = error[:4000]
        row.locked_until = None
        if permanent or tries >= MAX_ATTEMPTS:
            row.status = MessageStatus.FAILED
        else:
            row.next_attempt_at = now + retry_delay(tries)
        session.commit()
