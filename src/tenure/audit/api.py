"""Auditing `/v1`: `ApiRoute` records every successful POST and DELETE in the request's transaction."""

from __future__ import annotations

import json

from fastapi import Request, Response
from sqlalchemy.orm import Session

from tenure.audit.models import AuditEntry
from tenure.audit.service import MAX_FIELDS, api_key_actor, record
from tenure.keys.models import ApiKey
from tenure.ratelimit import client_address
from tenure.runtime import Runtime

AUDITED_METHODS = frozenset({"POST", "DELETE"})


def audited(request: Request, response: Response) -> bool:
    """Changes only: reads are not audited, nor refused requests (they changed nothing)."""
    return request.method in AUDITED_METHODS and response.status_code < 400


def _object_id(request: Request, response: Response) -> str | None:
    """The object in the URL (`/v1/subscriptions/{id}`), else the one the answer is about (a creation)."""
    for value in request.path_params.values():
        if isinstance(value, str) and value:
            return value
    body = getattr(response, "body", b"")
    if response.media_type != "application/json" or not body:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    found = answer.get("id") if isinstance(answer, dict) else None
    return found if isinstance(found, str) else None


def record_api_request(session: Session, request: Request, response: Response) -> AuditEntry:
    """Who (the key), what (method and route), on which object, which parameters (names, never values)."""
    runtime: Runtime = request.app.state.runtime
    key: ApiKey = request.state.api_key
    route = request.scope.get("route")
    template = str(getattr(route, "path", request.url.path))
    params = getattr(request.state, "params", None) or {}
    return record(
        session,
        api_key_actor(key),
        action=f"{request.method} {template}",
        object_id=_object_id(request, response),
        now=runtime.clock.now(),
        summary={"params": sorted(str(name) for name in params if name != "expand")[:MAX_FIELDS]},
        ip=client_address(request),
    )
