"""`/v1/checkout/sessions`: create, retrieve, list, expire, and a session's line items."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable
from tenure.api.lists import ListParams, list_object
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.checkout import service
from tenure.checkout.models import CheckoutSession
from tenure.checkout.schemas import (
    CheckoutSessionCreate,
    CheckoutSessionExpire,
    CheckoutSessionList,
    CheckoutSessionUpdate,
    serialize_checkout_session,
    serialize_line_item,
)
from tenure.prices.models import Price
from tenure.prices.schemas import serialize_price
from tenure.products.api_support import reject_nul_bytes
from tenure.products.models import Product

BASE = service.LIST_URL
router = APIRouter(
    prefix=BASE, route_class=ApiRoute, tags=["checkout"], dependencies=[Depends(reject_nul_bytes)]
)

register_expandable("checkout.session", "customer", "subscription", "invoice")


def line_items(session: Session, checkout: CheckoutSession) -> dict[str, Any]:
    """The session's `line_items` list (Stripe returns them expanded or from their own endpoint)."""
    data = []
    for index, entry in enumerate(checkout.line_items):
        price = session.scalar(select(Price).where(Price.id == entry["price"]))
        if price is None:
            continue
        product = session.scalar(select(Product).where(Product.id == price.product_id))
        description = product.name if product else (price.nickname or price.id)
        data.append(
            serialize_line_item(checkout, index, price=serialize_price(price), description=description)
        )
    return list_object(data, url=f"{BASE}/{checkout.id}/line_items")


def _respond(session: Session, checkout: CheckoutSession, paths: list[str], base_url: str) -> Response:
    obj = serialize_checkout_session(checkout, base_url=base_url)
    if "line_items" in paths:
        obj["line_items"] = line_items(session, checkout)
    rest = [path for path in paths if path != "line_items" and not path.startswith("line_items.")]
    return json_response(expand(session, obj, rest))


@router.post("")
def create_session(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[CheckoutSessionCreate, Depends(params_of(CheckoutSessionCreate))],
) -> Response:
    checkout = service.create_checkout_session(session, params, real_now=runtime.clock.now())
    return _respond(session, checkout, paths, runtime.settings.public_base_url)


@router.get("")
def list_sessions(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[CheckoutSessionList, Depends(params_of(CheckoutSessionList))],
) -> Response:
    page = service.list_checkout_sessions(
        session, params, real_now=runtime.clock.now(), base_url=runtime.settings.public_base_url
    )
    return json_response(expand(session, page, paths))


@router.get("/{checkout_id}")
def retrieve_session(
    session: SessionDep, runtime: RuntimeDep, checkout_id: str, paths: ExpandDep
) -> Response:
    base_url = runtime.settings.public_base_url
    checkout = service.retrieve_checkout_session(
        session, checkout_id, real_now=runtime.clock.now(), base_url=base_url
    )
    return _respond(session, checkout, paths, base_url)


@router.post("/{checkout_id}")
def update_session(
    session: SessionDep,
    runtime: RuntimeDep,
    checkout_id: str,
    paths: ExpandDep,
    params: Annotated[CheckoutSessionUpdate, Depends(params_of(CheckoutSessionUpdate))],
) -> Response:
    checkout = service.update_checkout_session(session, checkout_id, params)
    return _respond(session, checkout, paths, runtime.settings.public_base_url)


@router.post("/{checkout_id}/expire")
def expire_session(
    session: SessionDep,
    runtime: RuntimeDep,
    checkout_id: str,
    paths: ExpandDep,
    _params: Annotated[CheckoutSessionExpire, Depends(params_of(CheckoutSessionExpire))],
) -> Response:
    base_url = runtime.settings.public_base_url
    checkout = service.expire_checkout_session(
        session, checkout_id, real_now=runtime.clock.now(), base_url=base_url
    )
    return _respond(session, checkout, paths, base_url)


@router.get("/{checkout_id}/line_items")
def list_line_items(
    session: SessionDep,
    checkout_id: str,
    paths: ExpandDep,
    _params: Annotated[ListParams, Depends(params_of(ListParams))],
) -> Response:
    checkout = service.get_checkout_session(session, checkout_id)
    return json_response(expand(session, line_items(session, checkout), paths))
