"""Plug the notifications into the worker: the operator job and the periodic tasks (reminders, the
digest, sending). Emails caused by events are the `emails` consumer (`tenure.consumers`)."""

from __future__ import annotations

from tenure.jobs.queue import register_handler
from tenure.jobs.worker import register_periodic
from tenure.notifications import delivery, digest, reminders, triggers
from tenure.webhooks.delivery import ENDPOINT_DISABLED_JOB


def register() -> None:
    """Idempotent: every registry ignores a second registration of the same function."""
    register_handler(ENDPOINT_DISABLED_JOB, triggers.on_endpoint_disabled)
    # Reminders and the digest queue emails that the sending pass then sends in the same run.
    register_periodic(reminders.remind_due)
    register_periodic(digest.queue_daily_digest)
    register_periodic(delivery.send_due)
