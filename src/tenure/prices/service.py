"""Prices: create (for a product or with a new one), update the few mutable fields, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.api.lists import apply_range
from tenure.api.metadata import apply_metadata
from tenure.api.params import param_name
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.prices.models import Price, PriceType, interval_within_limit
from tenure.prices.schemas import PriceCreate, PriceList, PriceRecurring, PriceUpdate, serialize_price
from tenure.products import service as products
from tenure.products.models import Product
from tenure.products.schemas import DefaultPriceData, ProductCreate


def get_price(
    session: Session, price_id: str, *, param: str | None = "id", for_update: bool = False
) -> Price:
    stmt = select(Price).where(Price.id == price_id)
    if for_update:
        stmt = stmt.with_for_update()
    price = session.scalar(stmt)
    if price is None:
        raise ResourceMissing("price", price_id, param=param)
    return price


def _param(prefix: str | None, *names: str) -> str:
    return param_name([prefix, *names] if prefix else list(names))


def _check_recurring(recurring: PriceRecurring | None, prefix: str | None) -> None:
    if recurring is not None and not interval_within_limit(recurring.interval, recurring.interval_count or 1):
        raise InvalidRequest(
            "The maximum allowed interval is one year (1 year, 12 months, 52 weeks or 365 days).",
            param=_param(prefix, "recurring", "interval_count"),
        )


def _record_lookup_key_transfer(session: Session, holder: Price, *, now: int) -> None:
    before = serialize_price(holder)
    holder.lookup_key = None
    session.flush()
    record_event(session, type="price.updated", obj=serialize_price(holder), now=now, previous=before)


def _claim_lookup_key(
    session: Session, lookup_key: str, *, transfer: bool, now: int, exclude: str | None = None
) -> None:
    """Make `lookup_key` free among active prices: taken from its holder with `transfer`, else a 400."""
    stmt = select(Price).where(Price.lookup_key == lookup_key, Price.active.is_(True))
    if exclude is not None:
        stmt = stmt.where(Price.id != exclude)
    holder = session.scalar(stmt.with_for_update())
    if holder is None:
        return
    if not transfer:
        raise _lookup_key_taken(holder.id)
    _record_lookup_key_transfer(session, holder, now=now)


def _lookup_key_taken(holder_id: str | None) -> InvalidRequest:
    by = f" (`{holder_id}`)" if holder_id else ""
    return InvalidRequest(
        f"A price{by} already uses that lookup key. "
        "Pass `transfer_lookup_key=true` to move it to this price.",
        param="lookup_key",
    )


def _flush_new_price(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:  # the same lookup key claimed by a concurrent request
        raise _lookup_key_taken(None) from None


def insert_price(
    session: Session, product: Product, params: PriceCreate, *, now: int, prefix: str | None = None
) -> Price:
    """Add a price for `product` without recording an event; `prefix` names nested params in errors."""
    _check_recurring(params.recurring, prefix)
    active = params.active is not False
    if params.lookup_key is not None and active:
        _claim_lookup_key(session, params.lookup_key, transfer=bool(params.transfer_lookup_key), now=now)
    recurring = params.recurring
    price = Price(
        id=new_id("price"),
        created=now,
        product_id=product.id,
        active=active,
        currency=params.currency,
        unit_amount=params.unit_amount,
        type=PriceType.RECURRING if recurring else PriceType.ONE_TIME,
        recurring_interval=recurring.interval if recurring else None,
        recurring_interval_count=(recurring.interval_count or 1) if recurring else None,
        recurring_trial_period_days=recurring.trial_period_days if recurring else None,
        lookup_key=params.lookup_key,
        nickname=params.nickname,
        metadata_=apply_metadata(None, params.metadata, param=_param(prefix, "metadata")),
    )
    session.add(price)
    _flush_new_price(session)
    return price


def insert_default_price(session: Session, product: Product, data: DefaultPriceData, *, now: int) -> Price:
    """The price `default_price_data` describes on product creation."""
    recurring = None
    if data.recurring is not None:
        recurring = PriceRecurring(
            interval=data.recurring.interval, interval_count=data.recurring.interval_count
        )
    params = PriceCreate(
        currency=data.currency, unit_amount=data.unit_amount, recurring=recurring, metadata=data.metadata
    )
    return insert_price(session, product, params, now=now, prefix="default_price_data")


def record_created(session: Session, price: Price, *, now: int) -> None:
    record_event(session, type="price.created", obj=serialize_price(price), now=now)


def create_price(session: Session, params: PriceCreate, *, now: int) -> Price:
    """Create a price for `product`, or for a new product described by `product_data`."""
    if params.product is not None and params.product_data is not None:
        raise InvalidRequest(
            "You may only specify one of these parameters: product, product_data.", param="product_data"
        )
    _check_recurring(params.recurring, None)
    if params.product_data is not None:
        data = params.product_data
        product = products.insert_product(
            session,
            ProductCreate(
                name=data.name,
                id=data.id,
                active=data.active,
                unit_label=data.unit_label,
                metadata=data.metadata,
            ),
            now=now,
            prefix="product_data",
        )
        products.record_created(session, product, now=now)
    elif params.product is not None:
        product = products.referenced_product(session, params.product, param="product")
    else:
        raise MissingParameter("product")
    price = insert_price(session, product, params, now=now)
    record_created(session, price, now=now)
    return price


def update_price(session: Session, price_id: str, params: PriceUpdate, *, now: int) -> Price:
    """Change `active`, `lookup_key`, `nickname` or `metadata`; amounts never change (make a new price)."""
    price = get_price(session, price_id, for_update=True)
    before = serialize_price(price)
    given = params.model_fields_set
    active = price.active if params.active is None else params.active
    lookup_key = params.lookup_key if "lookup_key" in given else price.lookup_key
    if price.active and not active:
        product = products.get_product(session, price.product_id)
        if product.default_price_id == price.id:
            raise InvalidRequest(
                "This price cannot be archived because it is the default price of its product.",
                param="active",
            )
    if active and lookup_key is not None and (lookup_key != price.lookup_key or not price.active):
        _claim_lookup_key(
            session, lookup_key, transfer=bool(params.transfer_lookup_key), now=now, exclude=price.id
        )
    price.active = active
    price.lookup_key = lookup_key
    if "nickname" in given:
        price.nickname = params.nickname
    if "metadata" in given:
        price.metadata_ = apply_metadata(price.metadata_, params.metadata)
    _flush_new_price(session)
    record_event(session, type="price.updated", obj=serialize_price(price), now=now, previous=before)
    return price


def price_query(params: PriceList) -> Select[Any]:
    stmt = select(Price)
    if params.active is not None:
        stmt = stmt.where(Price.active.is_(params.active))
    if params.product is not None:
        stmt = stmt.where(Price.product_id == params.product)
    if params.currency is not None:
        stmt = stmt.where(Price.currency == params.currency)
    if params.type is not None:
        stmt = stmt.where(Price.type == params.type)
    if params.lookup_keys is not None:
        stmt = stmt.where(Price.lookup_key.in_(params.lookup_keys))
    if params.recurring is not None:
        if params.recurring.usage_type == "metered":  # every Tenure price is licensed
            stmt = stmt.where(false())
        if params.recurring.interval is not None:
            stmt = stmt.where(Price.recurring_interval == params.recurring.interval)
    return apply_range(stmt, Price.created, params.created)
