from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_loader
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.events.service import get_event
from tenure.webhooks import service
from tenure.webhooks.models import WebhookAttempt, WebhookEndpoint
from tenure.webhooks.schemas import (
    EndpointAttemptList,
    EventAttemptList,
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointUpdate,
    WebhookResend,
    serialize_attempt,
    serialize_delivery,
    serialize_endpoint,
)
from tenure.webhooks.signing import SecretBox

BASE = "/v1/webhook_endpoints"
router = APIRouter(route_class=ApiRoute, tags=["webhook_endpoints"])


def _load(session: Any, endpoint_id: str) -> dict[str, Any] | None:
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))
    return serialize_endpoint(endpoint) if endpoint else None


register_loader("we", _load)


@router.post(BASE)
def create_webhook_endpoint(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[WebhookEndpointCreate, Depends(params_of(WebhookEndpointCreate))],
    paths: ExpandDep,
) -> Response:
    box = SecretBox(runtime.settings.resolved_secret_key())
    endpoint, secret = service.create_endpoint(
        session,
        params,
        box=box,
        now=runtime.clock.now(),
        allow_private=runtime.settings.webhook_allow_private,
    )
    return json_response(expand(session, serialize_endpoint(endpoint, secret=secret), paths))


@router.get(BASE)
def list_webhook_endpoints(
    session: SessionDep,
    params: Annotated[WebhookEndpointList, Depends(params_of(WebhookEndpointList))],
    paths: ExpandDep,
) -> Response:
    page = paginate(
        session, service.endpoints_query(), WebhookEndpoint, params, url=BASE, serialize=serialize_endpoint
    )
    return json_response(expand(session, page, paths))


@router.get(BASE + "/{endpoint_id}")
def retrieve_webhook_endpoint(session: SessionDep, endpoint_id: str, paths: ExpandDep) -> Response:
    return json_response(
        expand(session, serialize_endpoint(service.get_endpoint(session, endpoint_id)), paths)
    )


@router.post(BASE + "/{endpoint_id}")
def update_webhook_endpoint(
    session: SessionDep,
    runtime: RuntimeDep,
    endpoint_id: str,
    params: Annotated[WebhookEndpointUpdate, Depends(params_of(WebhookEndpointUpdate))],
    paths: ExpandDep,
) -> Response:
    endpoint = service.update_endpoint(
        session, endpoint_id, params, allow_private=runtime.settings.webhook_allow_private
    )
    return json_response(expand(session, serialize_endpoint(endpoint), paths))


@router.delete(BASE + "/{endpoint_id}")
def delete_webhook_endpoint(session: SessionDep, endpoint_id: str) -> Response:
    deleted = service.delete_endpoint(session, endpoint_id)
    return json_response({"id": deleted, "object": "webhook_endpoint", "deleted": True})


@router.post(BASE + "/{endpoint_id}/resend")
def resend_event(
    session: SessionDep,
    runtime: RuntimeDep,
    endpoint_id: str,
    params: Annotated[WebhookResend, Depends(params_of(WebhookResend))],
) -> Response:
    delivery = service.resend(session, endpoint_id, params.event, now=runtime.clock.now())
    return json_response(serialize_delivery(delivery))


@router.get(BASE + "/{endpoint_id}/attempts")
def list_endpoint_attempts(
    session: SessionDep,
    endpoint_id: str,
    params: Annotated[EndpointAttemptList, Depends(params_of(EndpointAttemptList))],
) -> Response:
    service.get_endpoint(session, endpoint_id)
    stmt = service.attempts_query(endpoint_id=endpoint_id, event_id=params.event)
    url = f"{BASE}/{endpoint_id}/attempts"
    return json_response(
        paginate(session, stmt, WebhookAttempt, params, url=url, serialize=serialize_attempt)
    )


@router.get("/v1/events/{event_id}/webhook_attempts")
def list_event_attempts(
    session: SessionDep,
    event_id: str,
    params: Annotated[EventAttemptList, Depends(params_of(EventAttemptList))],
) -> Response:
    get_event(session, event_id)
    stmt = service.attempts_query(event_id=event_id, endpoint_id=params.webhook_endpoint)
    url = f"/v1/events/{event_id}/webhook_attempts"
    return json_response(
        paginate(session, stmt, WebhookAttempt, params, url=url, serialize=serialize_attempt)
    )
