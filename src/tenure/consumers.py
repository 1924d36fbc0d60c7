"""Every consumer of the event log, named in one place.

A request or job writes its own rows and its events (the event table is the outbox), nothing else.
What events call for elsewhere happens after commit, in the worker, once per event and consumer
(see `tenure.events.consumers` for how). The embedded worker catches up within about a second;
the dashboard and tests that need derived rows at once call `drain(runtime)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from tenure.events import consumers as log
from tenure.events.models import Event
from tenure.insights import rollup
from tenure.notifications import triggers
from tenure.runtime import Runtime
from tenure.subscriptions import hooks
from tenure.webhooks.service import queue_deliveries


def _each(handle: Callable[[Session, Event], None]) -> log.Handler:
    def handle_all(session: Session, events: Sequence[Event], now: int) -> None:
        for event in events:
            handle(session, event)

    return handle_all


CONSUMERS: tuple[log.Consumer, ...] = (
    # Webhook deliveries: one per enabled endpoint that wants the event.
    log.Consumer("webhooks", queue_deliveries),
    # The insights' `cancellations` rows and their daily rollup.
    log.Consumer("cancellations", rollup.maintain, frozenset(rollup.WATCHED)),
    # Customer emails an event calls for (payment failed, trial ending, cancellation confirmed).
    log.Consumer("emails", _each(triggers.on_event), frozenset(triggers.EVENT_TRIGGERS)),
    # A new default payment method makes a past-due customer's open invoices due for a retry.
    log.Consumer(
        "payment_retries", _each(hooks.retry_after_payment_method_change), frozenset({"customer.updated"})
    ),
)


def drain(runtime: Runtime, *, only: Sequence[str] | None = None) -> int:
    """Let the consumers (all, or those named) catch up with the event log now; returns the events
    they handled."""
    chosen = [consumer for consumer in CONSUMERS if only is None or consumer.name in only]
    with runtime.read_session() as session:
        chosen = log.waiting(session, chosen)
    return log.drain(runtime.sessionmaker, chosen, now=runtime.clock.now) if chosen else 0


def lag(session: Session) -> dict[str, int]:
    return log.lag(session, CONSUMERS)
