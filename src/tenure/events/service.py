"""Recording events in the transaction of their cause, and telling listeners (webhooks) about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import ResourceMissing
from tenure.events.models import Event
from tenure.events.types import EVENT_TYPES
from tenure.ids import new_id

# The API version stamped on events; the shapes follow Stripe's API as of this version.
API_VERSION = "2025-03-31.basil"

EventListener = Callable[[Session, Event], None]
_LISTENERS: list[EventListener] = []


def register_listener(listener: EventListener) -> None:
    """`listener(session, event)` runs inside the recording transaction (e.g. to queue deliveries)."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


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


def record_event(
    session: Session,
    *,
    type: str,
    obj: dict[str, Any],
    now: int,
    previous: dict[str, Any] | None = None,
) -> Event | None:
    """Record `type` for `obj` (the object after the change). With `previous` (the object before),
    only a real change is recorded, carrying `previous_attributes`; returns None when nothing changed."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        attributes = previous_attributes(previous, obj)
        if not attributes:
            return None
        data["previous_attributes"] = attributes
    event = Event(
        id=new_id("evt"),
        created=now,
        type=type,
        object_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        data=data,
        api_version=API_VERSION,
        pending_webhooks=0,
    )
    session.add(event)
    session.flush()
    for listener in _LISTENERS:
        listener(session, event)
    return event


def get_event(session: Session, event_id: str) -> Event:
    event = session.scalar(select(Event).where(Event.id == event_id))
    if event is None:
        raise ResourceMissing("event", event_id)
    return event
