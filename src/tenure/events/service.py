"""Recording events in the transaction of their cause. Nothing else happens there: webhook
deliveries, insights rows and emails follow the event log after commit (`tenure.consumers`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tenure.api.errors import ResourceMissing
from tenure.events.models import Event
from tenure.events.types import EVENT_TYPES
from tenure.ids import new_id

# The API version stamped on events; the shapes follow Stripe's API as of this version.
API_VERSION = "2025-03-31.basil"

_ORIGIN = "tenure.event_origin"
# Set on a session that recorded events: the embedded worker wakes when it commits.
EVENTS_RECORDED = "tenure.events_recorded"


@contextmanager
def origin(session: Session, **facts: str | None) -> Iterator[None]:
    """Stamp the events recorded inside the block with who made the change (never serialized):
    `with origin(session, source="portal", flow=flow.id, locale="fr"): cancel(...)`."""
    previous = session.info.get(_ORIGIN)
    session.info[_ORIGIN] = {key: value for key, value in facts.items() if value is not None}
    try:
        yield
    finally:
        if previous is None:
            session.info.pop(_ORIGIN, None)
        else:
            session.info[_ORIGIN] = previous


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The old values of the fields that changed, as Stripe reports them.

    Nested hashes (e.g. `cancellation_details`, `metadata`) report only their changed keys;
    lists and scalars report the whole old value.
    """
    changed: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") is None:
            inner = previous_attributes(old, new)
            changed[key] = {k: inner.get(k) for k in inner}
            for removed in old.keys() - new.keys():
                changed[key][removed] = old[removed]
        else:
            changed[key] = old
    return changed


def new_event(
    type: str,
    *,
    obj: dict[str, Any],
    now: int,
    previous: dict[str, Any] | None = None,
    origin: dict[str, str] | None = None,
) -> Event | None:
    """The event `type` for `obj` (the object after the change), not yet added to a session. With
    `previous` (the object before), only a real change makes one, carrying `previous_attributes`;
    None when nothing changed. Set-based writers insert many of these at once."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        attributes = previous_attributes(previous, obj)
        if not attributes:
            return None
        data["previous_attributes"] = attributes
    return Event(
        id=new_id("evt"),
        created=now,
        type=type,
        object_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        data=data,
        api_version=API_VERSION,
        pending_webhooks=0,
        origin=origin or None,
    )


def record_event(
    session: Session,
    *,
    type: str,
    obj: dict[str, Any],
    now: int,
    previous: dict[str, Any] | None = None,
) -> Event | None:
    """Record `type` for `obj` in the session's transaction (see `new_event`), stamped with the
    block's `origin` if any. Returns None when `previous` shows nothing changed."""
    event = new_event(type, obj=obj, now=now, previous=previous, origin=session.info.get(_ORIGIN))
    if event is not None:
        session.add(event)
        session.info[EVENTS_RECORDED] = True
    return event


# The columns `new_event` fills (the rest take their defaults: `tx` is the writing transaction).
_EVENT_COLUMNS = ("id", "created", "type", "object_id", "data", "api_version", "pending_webhooks", "origin")


def record_events(session: Session, events: Sequence[Event]) -> None:
    """Record many events made with `new_event` in one multi-row INSERT, in their order, stamped
    with the block's `origin` like `record_event`: for set-based writers (the billing run's batch
    renewals). The objects are not added to the session."""
    if not events:
        return
    block_origin = session.info.get(_ORIGIN)
    rows = []
    for event in events:
        row = {name: getattr(event, name) for name in _EVENT_COLUMNS}
        row["origin"] = row["origin"] or block_origin or None
        rows.append(row)
    session.execute(insert(Event.metadata.tables[Event.__tablename__]), rows)
    session.info[EVENTS_RECORDED] = True


def get_event(session: Session, event_id: str) -> Event:
    event = session.scalar(select(Event).where(Event.id == event_id))
    if event is None:
        raise ResourceMissing("event", event_id)
    return event
