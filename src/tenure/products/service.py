"""Products: create (optionally with a default price), update, archive, delete, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.api.lists import apply_range
from tenure.api.metadata import apply_metadata
from tenure.api.params import param_name
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.products.schemas import ProductCreate, ProductList, ProductUpdate, serialize_product


def get_product(session: Session, product_id: str, *, for_update: bool = False) -> Product:
    stmt = select(Product).where(Product.id == product_id)
    if for_update:
        stmt = stmt.with_for_update()
    product = session.scalar(stmt)
    if product is None:
        raise ResourceMissing("product", product_id)
    return product


def referenced_product(session: Session, product_id: str, *, param: str) -> Product:
    """A product named by a request parameter: a missing one is a 400 naming that parameter."""
    product = session.scalar(select(Product).where(Product.id == product_id))
    if product is None:
        raise InvalidRequest(f"No such product: '{product_id}'", param=param, code="resource_missing")
    return product


def _already_exists(param: str) -> InvalidRequest:
    return InvalidRequest("Product already exists.", param=param, code="resource_already_exists")


def insert_product(
    session: Session, params: ProductCreate, *, now: int, prefix: str | None = None
) -> Product:
    """Add a product without its default price or events; `prefix` names nested params in errors."""

    def param(name: str) -> str:
        return param_name([prefix, name] if prefix else [name])

    if params.id is not None and session.scalar(select(Product.pk).where(Product.id == params.id)):
        raise _already_exists(param("id"))
    product = Product(
        id=params.id or new_id("prod"),
        created=now,
        updated=now,
        name=params.name,
        description=params.description,
        active=params.active is not False,
        unit_label=params.unit_label,
        url=params.url,
        images=list(params.images or []),
        metadata_=apply_metadata(None, params.metadata, param=param("metadata")),
    )
    session.add(product)
    try:
        session.flush()
    except IntegrityError:  # the same custom id created concurrently
        raise _already_exists(param("id")) from None
    return product


def create_product(session: Session, params: ProductCreate, *, now: int) -> Product:
    """Create a product, and with `default_price_data` its default price (events for both)."""
    # Prices depend on products; importing here keeps the module dependency one-way.
    from tenure.prices import service as prices

    product = insert_product(session, params, now=now)
    price = None
    if params.default_price_data is not None:
        price = prices.insert_default_price(session, product, params.default_price_data, now=now)
        product.default_price_id = price.id
        session.flush()
    record_created(session, product, now=now)
    if price is not None:
        prices.record_created(session, price, now=now)
    return product


def record_created(session: Session, product: Product, *, now: int) -> None:
    record_event(session, type="product.created", obj=serialize_product(product), now=now)


def update_product(session: Session, product_id: str, params: ProductUpdate, *, now: int) -> Product:
    """Change the given fields; `updated` moves (and an event is recorded) only on a real change."""
    product = get_product(session, product_id, for_update=True)
    before = serialize_product(product)
    given = params.model_fields_set
    if params.name is not None:
        product.name = params.name
    if params.active is not None:
        product.active = params.active
    if "description" in given:
        product.description = params.description
    if "unit_label" in given:
        product.unit_label = params.unit_label
    if "url" in given:
        product.url = params.url
    if "images" in given:
        product.images = list(params.images or [])
    if "default_price" in given:
        product.default_price_id = _default_price(session, product, params.default_price)
    if "metadata" in given:
        product.metadata_ = apply_metadata(product.metadata_, params.metadata)
    if serialize_product(product) != before:
        product.updated = now
        session.flush()
        record_event(
            session, type="product.updated", obj=serialize_product(product), now=now, previous=before
        )
    return product


def _default_price(session: Session, product: Product, price_id: str | None) -> str | None:
    if price_id is None:
        return None
    price = session.scalar(select(Price).where(Price.id == price_id))
    if price is None:
        raise InvalidRequest(f"No such price: '{price_id}'", param="default_price", code="resource_missing")
    if price.product_id != product.id:
        raise InvalidRequest(
            f"The price `{price_id}` belongs to another product and cannot be this product's default price.",
            param="default_price",
        )
    if not price.active:
        raise InvalidRequest(
            f"The price `{price_id}` is archived and cannot be the default price.", param="default_price"
        )
    return price.id


def delete_product(session: Session, product_id: str, *, now: int) -> str:
    """Delete a product that has no prices (as in Stripe: archive it otherwise)."""
    product = get_product(session, product_id, for_update=True)
    if session.scalar(select(Price.pk).where(Price.product_id == product.id).limit(1)) is not None:
        raise InvalidRequest("This product cannot be deleted because it has one or more user-created prices.")
    deleted = serialize_product(product)
    session.delete(product)
    session.flush()
    record_event(session, type="product.deleted", obj=deleted, now=now)
    return product_id


def product_query(params: ProductList) -> Select[Any]:
    stmt = select(Product)
    if params.active is not None:
        stmt = stmt.where(Product.active.is_(params.active))
    if params.ids is not None:
        stmt = stmt.where(Product.id.in_(params.ids))
    if params.url is not None:
        stmt = stmt.where(Product.url == params.url)
    return apply_range(stmt, Product.created, params.created)
