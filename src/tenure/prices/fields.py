"""Parameter types the catalog's request schemas share: currencies, amounts, ids, timestamps."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo

from tenure import money
from tenure.api.lists import RangeFilter

# Stripe's largest amount (12 digits of minor units); also keeps values inside BIGINT.
MAX_AMOUNT = 999_999_999_999
MAX_COUNT = 2**31 - 1
# 9999-12-31: later timestamps are typos, and would overflow date handling elsewhere.
MAX_TIMESTAMP = 253_402_300_799

_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _currency(value: str) -> str:
    code = value.lower()
    if not money.is_supported(code):
        raise ValueError(
            f"Invalid currency: {value}. Supported currencies: "
            + ", ".join(sorted(money.SUPPORTED_CURRENCIES))
            + "."
        )
    return code


def _custom_id(value: str) -> str:
    if not _CUSTOM_ID.fullmatch(value):
        raise ValueError(f"Invalid id: {value!r}. Use 1 to 64 letters, digits, hyphens or underscores.")
    return value


def cannot_be_blank(value: Any, info: ValidationInfo) -> Any:
    """For fields that may be omitted but not unset (`name=` arrives here as None)."""
    if value is None:
        raise ValueError(
            f"You passed an empty string for '{info.field_name}'. We assume empty values are an "
            f"attempt to unset a parameter; however '{info.field_name}' cannot be unset. You should "
            f"remove '{info.field_name}' from your request or supply a non-empty value."
        )
    return value


Currency = Annotated[str, AfterValidator(_currency)]
CustomId = Annotated[str, AfterValidator(_custom_id)]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
PositiveAmount = Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Timestamp = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP)]
Interval = Literal["day", "week", "month", "year"]
# The per-interval maximum (one year in total) is checked with the interval, in the service.
IntervalCount = Annotated[int, Field(ge=1, le=MAX_COUNT)]

# Filter bounds: any BIGINT, so an absurd `created[gte]` finds nothing instead of overflowing.
_Bigint = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class CreatedRange(RangeFilter):
    gt: _Bigint | None = None
    gte: _Bigint | None = None
    lt: _Bigint | None = None
    lte: _Bigint | None = None


CreatedFilter = _Bigint | CreatedRange
