from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy import ColumnElement, or_, select

from tenure.api.deps import ExpandDep, SessionDep, params_of
from tenure.api.errors import InvalidRequest
from tenure.api.expand import expand
from tenure.api.lists import apply_range, paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.events.models import Event
from tenure.events.schemas import EventList, serialize_event
from tenure.events.service import get_event

router = APIRouter(prefix="/v1/events", route_class=ApiRoute, tags=["events"])
BASE = "/v1/events"


def _type_condition(pattern: str) -> ColumnElement[bool]:
    if pattern.endswith(".*"):
        return Event.type.startswith(pattern[:-1], autoescape=True)
    return Event.type == pattern


@router.get("")
def list_events(
    session: SessionDep, params: Annotated[EventList, Depends(params_of(EventList))], paths: ExpandDep
) -> Response:
    if params.type and params.types:
        raise InvalidRequest("You may only specify one of these parameters: type, types.", param="types")
    stmt = select(Event)
    if params.type:
        stmt = stmt.where(_type_condition(params.type))
    if params.types:
        if len(params.types) > 20:
            raise InvalidRequest("You may pass at most 20 types.", param="types")
        stmt = stmt.where(or_(*(_type_condition(t) for t in params.types)))
    stmt = apply_range(stmt, Event.created, params.created)
    page = paginate(session, stmt, Event, params, url=BASE, serialize=serialize_event)
    return json_response(expand(session, page, paths))


@router.get("/{event_id}")
def retrieve_event(session: SessionDep, event_id: str, paths: ExpandDep) -> Response:
    return json_response(expand(session, serialize_event(get_event(session, event_id)), paths))
