"""Webhook endpoints (create, update, delete) and the deliveries queued for each event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tenure.api.errors import ResourceMissing
from tenure.api.metadata import apply_metadata
from tenure.events.models import Event
from tenure.events.service import get_event
from tenure.events.types import matches
from tenure.ids import new_id
from tenure.webhooks.egress import check_url
from tenure.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tenure.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from tenure.webhooks.signing import SecretBox, new_secret

_IN_CHUNK = 500


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether `endpoint` subscribed to events of `event_type` (`*` and `prefix.*` included)."""
    return any(matches(pattern, event_type) for pattern in endpoint.enabled_events)


def get_endpoint(
    session: Session, endpoint_id: str, *, for_update: bool = False, for_delete: bool = False
) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if for_delete:
        stmt = stmt.with_for_update()
    elif for_update:
        # FOR NO KEY UPDATE: does not wait for transactions that are inserting deliveries to it.
        stmt = stmt.with_for_update(key_share=True)
    endpoint = session.scalar(stmt)
    if endpoint is None:
        raise ResourceMissing("webhook_endpoint", endpoint_id)
    return endpoint


def create_endpoint(
    session: Session, params: WebhookEndpointCreate, *, box: SecretBox, now: int, allow_private: bool
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its secret, which is stored only encrypted.

    Its URL must point to a public address unless `allow_private` (delivery checks it again).
    """
    check_url(params.url, allow_private=allow_private)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        created=now,
        url=params.url,
        description=params.description,
        enabled_events=params.enabled_events,
        status=EndpointStatus.ENABLED,
        api_version=params.api_version,
        signature_scheme=params.signature_scheme,
        secret_encrypted=box.encrypt(secret),
        metadata_=apply_metadata({}, params.metadata),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update_endpoint(
    session: Session, endpoint_id: str, params: WebhookEndpointUpdate, *, allow_private: bool
) -> WebhookEndpoint:
    """Change url, events, description, metadata or scheme; `disabled=false` also forgets past failures.

    A new URL must point to a public address unless `allow_private`.
    """
    if params.url is not None:
        check_url(params.url, allow_private=allow_private)  # may resolve a name: before taking the lock
    endpoint = get_endpoint(session, endpoint_id, for_update=True)
    given = params.model_fields_set
    if params.url is not None:
        endpoint.url = params.url
    if params.enabled_events is not None:
        endpoint.enabled_events = params.enabled_events
    if "description" in given:
        endpoint.description = params.description
    if params.signature_scheme is not None:
        endpoint.signature_scheme = params.signature_scheme
    if params.disabled is True:
        endpoint.status = EndpointStatus.DISABLED
    elif params.disabled is False and endpoint.status != EndpointStatus.ENABLED:
        endpoint.status = EndpointStatus.ENABLED
        endpoint.failing_since = None
    if "metadata" in given:
        endpoint.metadata_ = apply_metadata(endpoint.metadata_, params.metadata)
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: str) -> str:
    """Delete an endpoint with its deliveries and attempts; its unsent events stop counting as pending."""
    get_endpoint(session, endpoint_id)
    # Lock the deliveries before the endpoint, in the order a worker recording an attempt does.
    rows = session.execute(
        select(WebhookDelivery.event_id, WebhookDelivery.manual, WebhookDelivery.status)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .with_for_update()
    ).all()
    unsent = [row.event_id for row in rows if not row.manual and row.status != DeliveryStatus.SUCCEEDED]
    _decrement_pending(session, unsent)
    session.delete(get_endpoint(session, endpoint_id, for_delete=True))
    session.flush()
    return endpoint_id


def _decrement_pending(session: Session, event_ids: list[str]) -> None:
    for start in range(0, len(event_ids), _IN_CHUNK):
        chunk = event_ids[start : start + _IN_CHUNK]
        session.execute(
            update(Event)
            .where(Event.id.in_(chunk), Event.pending_webhooks > 0)
            .values(pending_webhooks=Event.pending_webhooks - 1)
            .execution_options(synchronize_session=False)
        )


def queue_deliveries(session: Session, events: Sequence[Event], now: int) -> None:
    """Consumer (`webhooks`): one delivery per enabled endpoint that wants each event, written for a
    whole batch of events at once, and each event's `pending_webhooks` set to its count."""
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.status == EndpointStatus.ENABLED)
    ).all()
    rows: list[dict[str, Any]] = []
    pending: dict[int, list[str]] = {}
    for event in events:
        targets = [endpoint for endpoint in endpoints if wants(endpoint, event.type)]
        for endpoint in targets:
            rows.append(
                {
                    "id": new_id("whdel"),
                    "created": event.created,
                    "event_id": event.id,
                    "endpoint_id": endpoint.id,
                    "manual": False,
                    "unique_key": f"{event.id}/{endpoint.id}",
                    "status": DeliveryStatus.PENDING,
                    "attempt_count": 0,
                    # Due at once: `event.created` may be a test clock's frozen time, ahead of real time.
                    "next_attempt_at": 0,
                }
            )
        if targets:
            pending.setdefault(len(targets), []).append(event.id)
    if rows:
        # Idempotent: a delivery this event already has (same `unique_key`) is left as it is.
        dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(dialect_insert(WebhookDelivery).on_conflict_do_nothing(), rows)
    for count, event_ids in pending.items():
        for start in range(0, len(event_ids), _IN_CHUNK):
            session.execute(
                update(Event)
                .where(Event.id.in_(event_ids[start : start + _IN_CHUNK]))
                .values(pending_webhooks=count)
                .execution_options(synchronize_session=False)
            )


def resend(session: Session, endpoint_id: str, event_id: str, *, now: int) -> WebhookDelivery:
    """Queue one extra, manual attempt of `event_id` to the endpoint, whatever its status or filters."""
    endpoint = get_endpoint(session, endpoint_id)
    try:
        event = get_event(session, event_id)
    except ResourceMissing:
        raise ResourceMissing("event", event_id, param="event") from None
    delivery = WebhookDelivery(
        id=new_id("whdel"),
        created=now,
        event_id=event.id,
        endpoint_id=endpoint.id,
        manual=True,
        unique_key=None,
        status=DeliveryStatus.PENDING,
        attempt_count=0,
        next_attempt_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def endpoints_query() -> Select[Any]:
    return select(WebhookEndpoint)


def attempts_query(*, endpoint_id: str | None = None, event_id: str | None = None) -> Select[Any]:
    stmt = select(WebhookAttempt)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookAttempt.endpoint_id == endpoint_id)
    if event_id is not None:
        stmt = stmt.where(WebhookAttempt.event_id == event_id)
    return stmt
