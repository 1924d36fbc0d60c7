"""Stripe list objects: newest first, `limit`, `starting_after`, `ending_before`, `has_more`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.api.params import FilterTimestamp, Params
from tenure.db.base import StripeObject

RowT = TypeVar("RowT", bound=StripeObject)


class RangeFilter(Params):
    gt: FilterTimestamp | None = None
    gte: FilterTimestamp | None = None
    lt: FilterTimestamp | None = None
    lte: FilterTimestamp | None = None


class ListParams(Params):
    limit: int = Field(default=10, ge=1, le=100)
    starting_after: str | None = None
    ending_before: str | None = None


def apply_range(stmt: Select[Any], column: Any, value: FilterTimestamp | RangeFilter | None) -> Select[Any]:
    """`created=123` or `created[gte]=…&created[lt]=…` on any integer timestamp column."""
    if value is None:
        return stmt
    if isinstance(value, int):
        return stmt.where(column == value)
    if value.gt is not None:
        stmt = stmt.where(column > value.gt)
    if value.gte is not None:
        stmt = stmt.where(column >= value.gte)
    if value.lt is not None:
        stmt = stmt.where(column < value.lt)
    if value.lte is not None:
        stmt = stmt.where(column <= value.lte)
    return stmt


def _cursor_pk(session: Session, model: type[StripeObject], object_id: str, param: str) -> int:
    pk = session.scalar(select(model.pk).where(model.id == object_id))
    if pk is None:
        raise InvalidRequest(f"No such object: '{object_id}'", param=param, code="resource_missing")
    return pk


def paginate(
    session: Session,
    stmt: Select[Any],
    model: type[RowT],
    params: ListParams,
    *,
    url: str,
    serialize: Callable[[RowT], dict[str, Any]],
) -> dict[str, Any]:
    """Run `stmt` (already filtered) as one page of a Stripe list object."""
    if params.starting_after and params.ending_before:
        raise InvalidRequest(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    rows: Sequence[RowT]
    if params.ending_before:
        pivot = _cursor_pk(session, model, params.ending_before, "ending_before")
        page = stmt.where(model.pk > pivot).order_by(model.pk.asc()).limit(params.limit + 1)
        fetched: list[RowT] = list(session.scalars(page))
        has_more = len(fetched) > params.limit
        rows = list(reversed(fetched[: params.limit]))
    else:
        if params.starting_after:
            pivot = _cursor_pk(session, model, params.starting_after, "starting_after")
            stmt = stmt.where(model.pk < pivot)
        fetched = list(session.scalars(stmt.order_by(model.pk.desc()).limit(params.limit + 1)))
        has_more = len(fetched) > params.limit
        rows = fetched[: params.limit]
    return list_object([serialize(row) for row in rows], url=url, has_more=has_more)


def list_object(data: list[dict[str, Any]], *, url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
