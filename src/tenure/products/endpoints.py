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
from tenure.products import service
from tenure.products.api_support import reject_nul_bytes
from tenure.products.models import Product
from tenure.products.schemas import ProductCreate, ProductList, ProductUpdate, serialize_product

BASE = "/v1/products"
router = APIRouter(
    prefix=BASE, route_class=ApiRoute, tags=["products"], dependencies=[Depends(reject_nul_bytes)]
)


def load_product(session: Session, product_id: str) -> dict[str, Any] | None:
    product = session.scalar(select(Product).where(Product.id == product_id))
    return serialize_product(product) if product else None


register_loader("prod", load_product)
register_expandable("product", "default_price")


@router.post("")
def create_product(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[ProductCreate, Depends(params_of(ProductCreate))],
    paths: ExpandDep,
) -> Response:
    product = service.create_product(session, params, now=runtime.clock.now())
    return json_response(expand(session, serialize_product(product), paths))


@router.get("")
def list_products(
    session: SessionDep,
    params: Annotated[ProductList, Depends(params_of(ProductList))],
    paths: ExpandDep,
) -> Response:
    query = service.product_query(params)
    page = paginate(session, query, Product, params, url=BASE, serialize=serialize_product)
    return json_response(expand(session, page, paths))


@router.get("/{product_id}")
def retrieve_product(session: SessionDep, product_id: str, paths: ExpandDep) -> Response:
    return json_response(expand(session, serialize_product(service.get_product(session, product_id)), paths))


@router.post("/{product_id}")
def update_product(
    session: SessionDep,
    runtime: RuntimeDep,
    product_id: str,
    params: Annotated[ProductUpdate, Depends(params_of(ProductUpdate))],
    paths: ExpandDep,
) -> Response:
    product = service.update_product(session, product_id, params, now=runtime.clock.now())
    return json_response(expand(session, serialize_product(product), paths))


@router.delete("/{product_id}")
def delete_product(session: SessionDep, runtime: RuntimeDep, product_id: str) -> Response:
    deleted = service.delete_product(session, product_id, now=runtime.clock.now())
    return json_response({"id": deleted, "object": "product", "deleted": True})
