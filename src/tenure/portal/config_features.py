"""Stripe's `features` (and other plain hashes) of a configuration: merging a request in, then checking."""

from __future__ import annotations

import copy
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.api.params import Params
from tenure.prices.models import Price
from tenure.products.service import referenced_product

CANCEL = "features[subscription_cancel]"
UPDATE = "features[subscription_update]"


def merge_given(current: dict[str, Any], params: Params, *, defaults: dict[str, Any]) -> dict[str, Any]:
    """`current` with the fields the request gave: a hash merges key by key (as Stripe's updates do),
    `""` empties a list and resets anything else to its default."""
    merged = copy.deepcopy(current)
    for name in params.model_fields_set:
        value = getattr(params, name)
        default = defaults.get(name)
        if isinstance(value, Params):
            base = merged.get(name) if isinstance(merged.get(name), dict) else default
            merged[name] = merge_given(base or {}, value, defaults=default or {})
        elif value is None:
            merged[name] = [] if isinstance(default, list) else copy.deepcopy(default)
        else:
            merged[name] = to_jsonable_python(value)
    return merged


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def check_features(session: Session, features: dict[str, Any]) -> dict[str, Any]:
    """Refuse what Stripe refuses in merged `features`; returns them normalized."""
    features["customer_update"]["allowed_updates"] = _unique(features["customer_update"]["allowed_updates"])
    configuration_id = features["payment_method_update"]["payment_method_configuration"]
    if configuration_id is not None:
        # Tenure has no payment method configurations: every such id names nothing.
        raise ResourceMissing(
            "payment method configuration",
            configuration_id,
            param="features[payment_method_update][payment_method_configuration]",
        )
    _check_cancel(features["subscription_cancel"])
    _check_update(session, features["subscription_update"])
    return features


def _check_cancel(cancel: dict[str, Any]) -> None:
    reason = cancel["cancellation_reason"]
    reason["options"] = _unique(reason["options"])
    proration = cancel["proration_behavior"]
    if proration == "always_invoice":
        raise InvalidRequest(
            "proration_behavior `always_invoice` is not supported when canceling: use `none` or "
            "`create_prorations`.",
            param=f"{CANCEL}[proration_behavior]",
        )
    if proration == "create_prorations" and cancel["mode"] != "immediately":
        raise InvalidRequest(
            "proration_behavior `create_prorations` is only compatible with mode `immediately`: "
            "no prorations are created when canceling at the end of the period.",
            param=f"{CANCEL}[proration_behavior]",
        )


def _check_update(session: Session, update: dict[str, Any]) -> None:
    update["default_allowed_updates"] = _unique(update["default_allowed_updates"])
    seen: set[str] = set()
    products = []
    for index, entry in enumerate(update["products"] or []):
        param = f"{UPDATE}[products][{index}]"
        product = referenced_product(session, entry["product"], param=f"{param}[product]")
        if product.id in seen:
            raise InvalidRequest(f"Product {product.id} is listed twice.", param=f"{param}[product]")
        seen.add(product.id)
        prices = _unique(entry["prices"])
        for position, price_id in enumerate(prices):
            _check_price(session, price_id, product.id, param=f"{param}[prices][{position}]")
        products.append(
            {
                "adjustable_quantity": _quantity(entry.get("adjustable_quantity"), param=param),
                "prices": prices,
                "product": product.id,
            }
        )
    update["products"] = products
    if update["enabled"] and "price" in update["default_allowed_updates"] and not products:
        raise InvalidRequest(
            "Name the products customers may switch between when `price` is an allowed update.",
            param=f"{UPDATE}[products]",
        )


def _check_price(session: Session, price_id: str, product_id: str, *, param: str) -> None:
    price = session.scalar(select(Price).where(Price.id == price_id))
    if price is None:
        raise ResourceMissing("price", price_id, param=param)
    if price.product_id != product_id:
        raise InvalidRequest(f"Price {price_id} does not belong to product {product_id}.", param=param)
    if not price.is_recurring:
        raise InvalidRequest(f"Price {price_id} is not a recurring price.", param=param)


def _quantity(value: dict[str, Any] | None, *, param: str) -> dict[str, Any]:
    if value is None:
        return {"enabled": False, "maximum": None, "minimum": 1}
    minimum = 1 if value.get("minimum") is None else value["minimum"]
    maximum = value.get("maximum")
    if maximum is not None and maximum < minimum:
        raise InvalidRequest(
            "adjustable_quantity[maximum] must be at least its minimum.",
            param=f"{param}[adjustable_quantity][maximum]",
        )
    return {"enabled": bool(value["enabled"]), "maximum": maximum, "minimum": minimum}
