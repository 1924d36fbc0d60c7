"""`tenure listen`: forward new events to a local app, signed, like `stripe listen`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select

from tenure.events.models import Event
from tenure.events.types import matches
from tenure.runtime import Runtime
from tenure.webhooks.delivery import event_payload, request_headers, send
from tenure.webhooks.models import SignatureScheme
from tenure.webhooks.signing import derived_secret

POLL_SECONDS = 0.25
PAGE = 100


def listen_secret(runtime: Runtime) -> str:
    """The signing secret of `tenure listen`: stable for one installation, like the Stripe CLI's."""
    return derived_secret(runtime.settings.resolved_secret_key(), "tenure listen")


def latest_event_pk(runtime: Runtime) -> int:
    """Where "from now on" starts: the newest event recorded so far."""
    with runtime.sessionmaker() as session:
        return session.scalar(select(func.max(Event.pk))) or 0


def forward_events(
    runtime: Runtime,
    *,
    url: str,
    patterns: list[str],
    secret: str,
    after_pk: int,
    echo: Callable[[str], None],
    sleep: Callable[[float], None],
) -> None:
    """Forward every event recorded after `after_pk` whose type matches `patterns`, until interrupted.

    No retries and no record: a failure is printed and the next event goes on.
    """
    last_pk = after_pk
    while True:
        with runtime.sessionmaker() as session:
            events = list(
                session.scalars(select(Event).where(Event.pk > last_pk).order_by(Event.pk).limit(PAGE))
            )
            batch = [(event.pk, event.id, event.type, event_payload(event)) for event in events]
        for pk, event_id, event_type, payload in batch:
            last_pk = pk
            if not any(matches(pattern, event_type) for pattern in patterns):
                continue
            now = runtime.clock.now()
            headers = request_headers(
                SignatureScheme.STRIPE, secret=secret, message_id=event_id, payload=payload, timestamp=now
            )
            # The operator's own command, to their own machine: local addresses are the point.
            result = send(url, payload=payload, headers=headers, started_at=now, allow_private=True)
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")
            outcome = f"[{result.status_code}]" if result.status_code is not None else f"[ERR] {result.error}"
            echo(f"{stamp}  --> {event_type} [{event_id}]  <-- {outcome} POST {url}")
        if len(batch) < PAGE:
            sleep(POLL_SECONDS)
