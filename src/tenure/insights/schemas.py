from __future__ import annotations

from typing import Literal

from pydantic import Field

from tenure.api.lists import RangeFilter
from tenure.api.params import Params


class CancellationsQuery(Params):
    created: RangeFilter | None = None
    interval: Literal["week", "month"] = "month"
    price: str | None = Field(default=None, max_length=64)


class SqlQuery(Params):
    query: str = Field(max_length=20_000)
    limit: int = Field(default=1000, ge=1, le=10_000)
