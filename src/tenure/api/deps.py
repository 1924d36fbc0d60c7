"""`Annotated` dependency aliases shared by every API endpoint."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.api.forms import request_params as request_params  # re-exported: endpoints import it from here
from tenure.api.params import validate
from tenure.api.route import request_session
from tenure.keys.models import ApiKey
from tenure.runtime import Runtime

ModelT = TypeVar("ModelT", bound=BaseModel)

# The model behind each `params_of` dependency, so that `/openapi.json` documents exactly it.
_PARAMS_MODELS: dict[Callable[..., Any], type[BaseModel]] = {}


def params_of(model: type[ModelT]) -> Callable[[Request], Coroutine[Any, Any, ModelT]]:
    """A dependency validating the request's parameters (less `expand`) against `model`."""

    async def dependency(request: Request) -> ModelT:
        data = dict(await request_params(request))
        data.pop("expand", None)
        return validate(model, data)

    dependency.__name__ = f"params_{model.__name__}"
    _PARAMS_MODELS[dependency] = model
    return dependency


def params_model(dependency: Callable[..., Any]) -> type[BaseModel] | None:
    """The model a `params_of` dependency validates against (None for any other callable)."""
    return _PARAMS_MODELS.get(dependency)


async def expand_paths(request: Request) -> list[str]:
    value = (await request_params(request)).get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidRequest("Invalid expand parameter: expected an array of strings.", param="expand")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_api_key(request: Request) -> ApiKey:
    key: ApiKey = request.state.api_key
    return key


SessionDep = Annotated[Session, Depends(request_session)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ExpandDep = Annotated[list[str], Depends(expand_paths)]
ApiKeyDep = Annotated[ApiKey, Depends(get_api_key)]
