"""`/v1/insights/…`: Tenure's extensions to the API (Stripe has no such objects)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from tenure.api.deps import RuntimeDep, SessionDep, params_of
from tenure.api.errors import InvalidRequest
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.insights.currency import Converter, parse_rates
from tenure.insights.metrics import cancellations_report
from tenure.insights.schemas import CancellationsQuery, SqlQuery
from tenure.insights.sql_console import run_query

router = APIRouter(prefix="/v1/insights", route_class=ApiRoute, tags=["insights"])
DAY = 86_400
DEFAULT_WINDOW = 30 * DAY
MAX_WINDOW = 5 * 366 * DAY


@router.get("/cancellations")
def cancellations(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[CancellationsQuery, Depends(params_of(CancellationsQuery))],
) -> Response:
    """Why customers leave in a period: reasons by count, share and MRR lost, trends, the retention funnel."""
    now = runtime.clock.now()
    window = params.created or None
    end = (
        window.lt
        if window and window.lt is not None
        else (window.lte + 1 if window and window.lte is not None else now + 1)
    )
    start = (
        window.gte
        if window and window.gte is not None
        else (window.gt + 1 if window and window.gt is not None else end - DEFAULT_WINDOW)
    )
    if start >= end:
        raise InvalidRequest("created[gte] must be before created[lt].", param="created[gte]")
    if end - start > MAX_WINDOW:
        raise InvalidRequest("The period can be at most 5 years long.", param="created[gte]")
    convert = Converter(runtime.settings.reporting_currency, parse_rates(runtime.settings.fx_rates))
    return json_response(
        cancellations_report(
            session,
            start=start,
            end=end,
            interval=params.interval,
            price=params.price,
            now=now,
            convert=convert,
        )
    )


@router.post("/sql")
def sql(runtime: RuntimeDep, params: Annotated[SqlQuery, Depends(params_of(SqlQuery))]) -> Response:
    """Read-only SQL over the documented views (see docs/insights.md)."""
    return json_response(run_query(runtime, params.query, row_cap=params.limit).to_dict())
