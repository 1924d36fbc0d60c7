from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.prices import service
from tenure.prices.models import Price
from tenure.prices.schemas import PriceCreate, PriceList, PriceUpdate, serialize_price
from tenure.products.api_support import expand_field, reject_nul_bytes
from tenure.products.endpoints import load_product

BASE = "/v1/prices"
router = APIRouter(
    prefix=BASE, route_class=ApiRoute, tags=["prices"], dependencies=[Depends(reject_nul_bytes)]
)


def load_price(session: Session, price_id: str) -> dict[str, Any] | None:
    price = session.scalar(select(Price).where(Price.id == price_id))
    return serialize_price(price) if price else None


register_loader("price", load_price)
register_expandable("price", "product")


def _expanded(session: Session, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    # Custom product ids have no prefix for the generic loaders: load `product` here first.
    expand_field(session, obj, paths, "product", load_product)
    return expand(session, obj, paths)


@router.post("")
def create_price(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[PriceCreate, Depends(params_of(PriceCreate))],
    paths: ExpandDep,
) -> Response:
    price = service.create_price(session, params, now=runtime.clock.now())
    return json_response(_expanded(session, serialize_price(price), paths))


@router.get("")
def list_prices(
    session: SessionDep,
    params: Annotated[PriceList, Depends(params_of(PriceList))],
    paths: ExpandDep,
) -> Response:
    page = paginate(session, service.price_query(params), Price, params, url=BASE, serialize=serialize_price)
    return json_response(_expanded(session, page, paths))


@router.get("/{price_id}")
def retrieve_price(session: SessionDep, price_id: str, paths: ExpandDep) -> Response:
    return json_response(_expanded(session, serialize_price(service.get_price(session, price_id)), paths))


@router.post("/{price_id}")
def update_price(
    session: SessionDep,
    runtime: RuntimeDep,
    price_id: str,
    params: Annotated[PriceUpdate, Depends(params_of(PriceUpdate))],
    paths: ExpandDep,
) -> Response:
    price = service.update_price(session, price_id, params, now=runtime.clock.now())
    return json_response(_expanded(session, serialize_price(price), paths))
