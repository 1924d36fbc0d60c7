from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.portal.fields import HttpUrl
from tenure.prices.fields import (
    Amount,
    CreatedFilter,
    Currency,
    CustomId,
    Interval,
    IntervalCount,
    cannot_be_blank,
)
from tenure.products.models import Product

ImageUrl = Annotated[str, Field(max_length=2048)]


class DefaultPriceRecurring(Params):
    interval: Interval
    interval_count: IntervalCount | None = None


class DefaultPriceData(Params):
    currency: Currency
    unit_amount: Amount
    recurring: DefaultPriceRecurring | None = None
    metadata: Any = None


class ProductCreate(Params):
    name: str
    id: CustomId | None = None
    active: bool | None = None
    description: str | None = None
    default_price_data: DefaultPriceData | None = None
    unit_label: str | None = Field(default=None, max_length=12)
    url: HttpUrl | None = None
    images: list[ImageUrl] | None = Field(default=None, max_length=8)
    metadata: Any = None

    _name_not_blank = field_validator("name", mode="before")(cannot_be_blank)


class ProductUpdate(Params):
    name: str | None = None
    active: bool | None = None
    description: str | None = None
    default_price: str | None = None
    unit_label: str | None = Field(default=None, max_length=12)
    url: HttpUrl | None = None
    images: list[ImageUrl] | None = Field(default=None, max_length=8)
    metadata: Any = None

    _not_blank = field_validator("name", "active", mode="before")(cannot_be_blank)


class ProductList(ListParams):
    active: bool | None = None
    ids: list[str] | None = Field(default=None, max_length=100)
    created: CreatedFilter | None = None
    url: str | None = None


def serialize_product(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "object": "product",
        "active": product.active,
        "created": product.created,
        "default_price": product.default_price_id,
        "description": product.description,
        "images": list(product.images or []),
        "livemode": product.livemode,
        "marketing_features": [],
        "metadata": dict(product.metadata_ or {}),
        "name": product.name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": product.unit_label,
        "updated": product.updated,
        "url": product.url,
    }
