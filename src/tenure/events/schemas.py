from __future__ import annotations

from typing import Any

from tenure.api.lists import ListParams, RangeFilter
from tenure.api.params import FilterTimestamp
from tenure.events.models import Event


class EventList(ListParams):
    type: str | None = None
    types: list[str] | None = None
    created: FilterTimestamp | RangeFilter | None = None
    delivery_success: bool | None = None


def serialize_event(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "event",
        "api_version": event.api_version,
        "created": event.created,
        "data": event.data,
        "livemode": event.livemode,
        "pending_webhooks": event.pending_webhooks,
        "request": {"id": event.request_id, "idempotency_key": event.idempotency_key},
        "type": event.type,
    }
