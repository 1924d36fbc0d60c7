from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.events.types import is_known
from tenure.portal.fields import is_http_url
from tenure.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_URL_LENGTH = 2048


def _check_url(value: str) -> str:
    if not is_http_url(value.strip()):  # no control characters either: the URL goes into a request line
        raise ValueError(f"Invalid URL: {value!r} must be an http or https URL.")
    return value.strip()


def _check_events(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("Invalid enabled_events: give at least one event type, or '*' for all.")
    for event_type in value:
        if not is_known(event_type):
            raise ValueError(f"Invalid enabled_events: unknown event type {event_type!r}.")
    return list(dict.fromkeys(value))


WebhookUrl = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(_check_url)]
EventTypes = Annotated[list[str], AfterValidator(_check_events)]


class WebhookEndpointCreate(Params):
    url: WebhookUrl
    enabled_events: EventTypes
    description: str | None = None
    metadata: dict[str, Any] | str | None = None
    api_version: str | None = Field(default=None, max_length=40)
    # Tenure extension: sign with Stripe's scheme (default) or Standard Webhooks.
    signature_scheme: Literal["stripe", "standard_webhooks"] = "stripe"


class WebhookEndpointUpdate(Params):
    url: WebhookUrl | None = None
    enabled_events: EventTypes | None = None
    description: str | None = None
    disabled: bool | None = None
    metadata: dict[str, Any] | str | None = None
    signature_scheme: Literal["stripe", "standard_webhooks"] | None = None


class WebhookEndpointList(ListParams):
    pass


class WebhookResend(Params):
    event: str = Field(max_length=64)


class EndpointAttemptList(ListParams):
    event: str | None = Field(default=None, max_length=64)


class EventAttemptList(ListParams):
    webhook_endpoint: str | None = Field(default=None, max_length=64)


def serialize_endpoint(endpoint: WebhookEndpoint, *, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "api_version": endpoint.api_version,
        "application": None,
        "created": endpoint.created,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "livemode": endpoint.livemode,
        "metadata": dict(endpoint.metadata_ or {}),
        "status": endpoint.status,
        "url": endpoint.url,
        "signature_scheme": endpoint.signature_scheme,
    }
    if secret is not None:
        body["secret"] = secret
    return body


def serialize_delivery(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "object": "webhook_delivery",
        "attempt_count": delivery.attempt_count,
        "created": delivery.created,
        "event": delivery.event_id,
        "livemode": delivery.livemode,
        "manual": delivery.manual,
        "next_attempt_at": delivery.next_attempt_at,
        "status": delivery.status,
        "webhook_endpoint": delivery.endpoint_id,
    }


def serialize_attempt(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "object": "webhook_attempt",
        "attempt": attempt.number,
        "created": attempt.created,
        "delivery": attempt.delivery_id,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "event": attempt.event_id,
        "livemode": attempt.livemode,
        "manual": attempt.manual,
        "next_attempt_at": attempt.next_attempt_at,
        "response_excerpt": attempt.response_excerpt,
        "status_code": attempt.status_code,
        "succeeded": attempt.succeeded,
        "webhook_endpoint": attempt.endpoint_id,
    }
