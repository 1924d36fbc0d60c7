"""Validate parsed request parameters with Pydantic and report problems the way Stripe does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tenure.api.errors import InvalidRequest, MissingParameter, TenureError, UnknownParameter

ModelT = TypeVar("ModelT", bound=BaseModel)

# Unix seconds that get stored and computed with: up to the last second of year 9999 (Python's
# datetime limit), so that no request can overflow period arithmetic or a BIGINT column.
Timestamp = Annotated[int, Field(ge=0, le=253_402_300_799)]
# Unix seconds that only filter: anything a BIGINT can compare against.
FilterTimestamp = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Params(BaseModel):
    """Base of every request schema: unknown parameters are refused, `""` unsets a field (as in Stripe)."""

    model_config = ConfigDict(extra="forbid", str_max_length=5000)

    @model_validator(mode="before")
    @classmethod
    def _blank_means_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key: (None if value == "" and key != "metadata" else value) for key, value in data.items()
            }
        return data


def param_name(location: Sequence[int | str]) -> str:
    """`("items", 0, "price")` -> `items[0][price]`."""
    parts = [str(part) for part in location if part not in ("function-after", "function-before")]
    if not parts:
        return ""
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])


def _error_for(detail: dict[str, Any]) -> TenureError:
    location = [
        p for p in detail["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function")))
    ]
    param = param_name(location)
    kind = detail["type"]
    value = detail.get("input")
    if kind == "missing":
        return MissingParameter(param)
    if kind == "extra_forbidden":
        return UnknownParameter(param)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return InvalidRequest(f"Invalid integer: {value}", param=param)
    if kind in ("bool_parsing", "bool_type"):
        return InvalidRequest(f"Invalid boolean: {value}", param=param)
    if kind in ("literal_error", "enum"):
        expected = detail.get("ctx", {}).get("expected", "")
        return InvalidRequest(f"Invalid {param}: must be one of {expected}", param=param)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return InvalidRequest(f"Invalid object for {param}: expected a hash of parameters.", param=param)
    if kind == "list_type":
        return InvalidRequest(f"Invalid array for {param}.", param=param)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return InvalidRequest(f"Invalid {param}: {detail['msg'].lower()}.", param=param)
    if kind == "string_too_long":
        limit = detail.get("ctx", {}).get("max_length")
        return InvalidRequest(f"Invalid {param}: must be at most {limit} characters.", param=param)
    if kind == "value_error":
        message = str(detail.get("ctx", {}).get("error", detail["msg"]))
        return InvalidRequest(message, param=param)
    return InvalidRequest(f"Invalid {param}: {detail['msg']}", param=param)


def validate(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Build `model` from request data, raising a Stripe-shaped 400 naming the first bad parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error_for(dict(exc.errors()[0])) from None
