from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_loader
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.testclocks import service
from tenure.testclocks.models import TestClock
from tenure.testclocks.schemas import TestClockAdvance, TestClockCreate, TestClockList, serialize_test_clock

router = APIRouter(prefix="/v1/test_helpers/test_clocks", route_class=ApiRoute, tags=["test_clocks"])
BASE = "/v1/test_helpers/test_clocks"


def _load(session: Any, clock_id: str) -> dict[str, Any] | None:
    clock = session.scalar(select(TestClock).where(TestClock.id == clock_id))
    return serialize_test_clock(clock) if clock else None


register_loader("clock", _load)


@router.post("")
def create_test_clock(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[TestClockCreate, Depends(params_of(TestClockCreate))],
    paths: ExpandDep,
) -> Response:
    clock = service.create_clock(
        session, frozen_time=params.frozen_time, name=params.name, now=runtime.clock.now()
    )
    return json_response(expand(session, serialize_test_clock(clock), paths))


@router.get("")
def list_test_clocks(
    session: SessionDep,
    params: Annotated[TestClockList, Depends(params_of(TestClockList))],
    paths: ExpandDep,
) -> Response:
    page = paginate(session, select(TestClock), TestClock, params, url=BASE, serialize=serialize_test_clock)
    return json_response(expand(session, page, paths))


@router.get("/{clock_id}")
def retrieve_test_clock(session: SessionDep, clock_id: str, paths: ExpandDep) -> Response:
    return json_response(expand(session, serialize_test_clock(service.get_clock(session, clock_id)), paths))


@router.post("/{clock_id}/advance")
def advance_test_clock(
    session: SessionDep,
    runtime: RuntimeDep,
    clock_id: str,
    params: Annotated[TestClockAdvance, Depends(params_of(TestClockAdvance))],
    paths: ExpandDep,
) -> Response:
    clock = service.advance_clock(session, clock_id, frozen_time=params.frozen_time, runtime=runtime)
    return json_response(expand(session, serialize_test_clock(clock), paths))


@router.delete("/{clock_id}")
def delete_test_clock(session: SessionDep, runtime: RuntimeDep, clock_id: str) -> Response:
    deleted = service.delete_clock(session, clock_id, now=runtime.clock.now())
    return json_response({"id": deleted, "object": "test_helpers.test_clock", "deleted": True})
