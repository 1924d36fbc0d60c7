"""Plug the notifications into the rest of Tenure: event listener, cancel-flow hook, operator job,
worker tasks (reminders, the digest, sending) and the test-clock step."""

from __future__ import annotations

from tenure.events.service import register_listener
from tenure.jobs.queue import register_handler
from tenure.jobs.worker import register_periodic
from tenure.notifications import delivery, digest, reminders, triggers
from tenure.retention import flow as retention_flow
from tenure.webhooks.delivery import ENDPOINT_DISABLED_JOB


def register() -> None:
    """Idempotent: every registry ignores a second registration of the same function."""
    register_listener(triggers.on_event)
    register_handler(ENDPOINT_DISABLED_JOB, triggers.on_endpoint_disabled)
    if triggers.on_offer_accepted not in retention_flow.OFFER_ACCEPTED_LISTENERS:
        retention_flow.OFFER_ACCEPTED_LISTENERS.append(triggers.on_offer_accepted)
    # Reminders and the digest queue emails that the sending pass then sends in the same run.
    register_periodic(reminders.remind_due)
    register_periodic(digest.queue_daily_digest)
    register_periodic(delivery.send_due)
