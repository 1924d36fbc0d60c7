"""`/openapi.json`: the API as it really is, built from the `Params` models the routes validate with.

FastAPI sees only `Request` dependencies behind `params_of(...)`, so on its own it documents no
parameter at all. Here each route's model (recorded by `params_of`) becomes its query parameters
(GET, DELETE) or its request body (POST) in both encodings the API parses: Stripe's form encoding
with bracket notation, and JSON. Being derived from the same models, the document cannot drift
from what the routes accept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from tenure.api import metadata
from tenure.api.deps import expand_paths, params_model
from tenure.api.route import ApiRoute

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]
_REF = "#/components/schemas/"

DESCRIPTION = """\
Subscription billing that speaks Stripe's wire format.

Request bodies are form-encoded (`application/x-www-form-urlencoded`), as Stripe's are, or JSON
(`application/json`) with the same fields. Nested objects and arrays use Stripe's bracket
notation, in bodies and query strings alike: `metadata[plan]=pro`, `items[0][price]=price_…`,
`expand[]=customer`, `created[gte]=1700000000`. Parameters marked `style: deepObject` are
encoded this way (OpenAPI defines `deepObject` for one level of object only; Tenure, like
Stripe, nests it and indexes arrays). An empty value (`description=`) unsets a field.

Authenticate with a secret key: `Authorization: Bearer sk_…`, or HTTP Basic with the key as
user name and no password. Errors are `{"error": {"type", "message", "code", "param"}}`."""

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["api_error", "card_error", "idempotency_error", "invalid_request_error"],
                },
                "message": {"type": "string"},
                "code": {"type": "string"},
                "param": {"type": "string"},
                "decline_code": {"type": "string"},
            },
        }
    },
}

# Every `metadata` parameter goes through `tenure.api.metadata.apply_metadata`, whatever the
# field's annotation says (often `Any`, so that the service can name the bad key): document its rules.
METADATA_SCHEMA: dict[str, Any] = {
    "description": 'Key-value pairs; a key set to `""` is deleted, and `metadata=""` deletes them all.',
    "anyOf": [
        {
            "type": "object",
            "maxProperties": metadata.MAX_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": metadata.MAX_KEY_LENGTH, "pattern": r"^[^\[\]]*$"},
            "additionalProperties": {"type": "string", "maxLength": metadata.MAX_VALUE_LENGTH},
        },
        {"type": "string", "enum": [""]},
        {"type": "null"},
    ],
}

EXPAND_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "maxLength": 5000},
    "description": "Fields to expand, as dotted paths (`expand[]=customer`).",
}


def install(app: FastAPI) -> None:
    """Serve this document at `/openapi.json` (and in `/docs`), built once on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document (paths, path parameters), completed with what `ApiRoute` endpoints take."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=DESCRIPTION,
        routes=app.routes,
    )
    # FastAPI keeps included routers nested; the route contexts carry each route's full path.
    routes = [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
    ]
    models = {model for route in routes if (model := _model_of(route.dependant)) is not None}
    names, schemas = _model_schemas(models)
    components = document.setdefault("components", {})
    component_schemas = components.setdefault("schemas", {})
    # FastAPI documents a 422 for path parameters; the API answers bad input with a 400 instead.
    component_schemas.pop("HTTPValidationError", None)
    component_schemas.pop("ValidationError", None)
    component_schemas.update(schemas)
    component_schemas["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "A secret key `sk_…`."},
        "basicAuth": {
            "type": "http",
            "scheme": "basic",
            "description": "A secret key `sk_…` as the user name, no password.",
        },
    }
    for route in routes:
        if not isinstance(route.original_route, ApiRoute):
            continue
        model = _model_of(route.dependant)
        fields: dict[str, Any] = {"type": "object", "properties": {}}
        if model is not None:
            fields = copy.deepcopy(component_schemas[names[model]])
        if any(dependant.call is expand_paths for dependant in _walk(route.dependant)):
            fields.setdefault("properties", {})["expand"] = EXPAND_SCHEMA
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path_format][method.lower()]
            _describe_api_operation(operation, method=method, fields=fields, components=component_schemas)
    return document


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for child in dependant.dependencies:
        yield child
        yield from _walk(child)


def _model_of(dependant: Dependant) -> type[BaseModel] | None:
    for child in _walk(dependant):
        if child.call is not None and (model := params_model(child.call)) is not None:
            return model
    return None


def _model_schemas(models: set[type[BaseModel]]) -> tuple[dict[type[BaseModel], str], dict[str, Any]]:
    """JSON Schemas of the models and of every model they nest, and each model's component name."""
    ordered = sorted(models, key=lambda model: (model.__module__, model.__qualname__))
    keys, top = models_json_schema(
        [(model, "validation") for model in ordered], ref_template=_REF + "{model}"
    )
    defs: dict[str, Any] = top.get("$defs", {})
    for schema in defs.values():
        properties = schema.get("properties", {})
        if "metadata" in properties:
            properties["metadata"] = METADATA_SCHEMA
    names = {model: keys[(model, "validation")]["$ref"].removeprefix(_REF) for model in ordered}
    return names, defs


def _is_structured(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """Whether a value can be an object or an array, which are sent in bracket notation."""
    if "$ref" in schema:
        return _is_structured(components[schema["$ref"].removeprefix(_REF)], components)
    kind = schema.get("type")
    if kind in ("object", "array") or (isinstance(kind, list) and {"object", "array"} & set(kind)):
        return True
    branches = schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", [])
    return any(_is_structured(branch, components) for branch in branches)


def _describe_api_operation(
    operation: dict[str, Any], *, method: str, fields: dict[str, Any], components: dict[str, Any]
) -> None:
    operation["security"] = SECURITY
    properties: dict[str, Any] = fields.get("properties", {})
    required: list[str] = fields.get("required", [])
    if method == "POST":
        if properties:
            encoding = {
                name: {"style": "deepObject", "explode": True}
                for name, schema in properties.items()
                if _is_structured(schema, components)
            }
            form: dict[str, Any] = {"schema": fields}
            if encoding:
                form["encoding"] = encoding
            operation["requestBody"] = {
                "required": bool(required),
                "content": {FORM: form, JSON: {"schema": fields}},
            }
    else:
        parameters = operation.setdefault("parameters", [])
        for name, schema in properties.items():
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": schema,
            }
            if _is_structured(schema, components):
                parameter.update(style="deepObject", explode=True)
            parameters.append(parameter)
    error = {"application/json": {"schema": {"$ref": _REF + "Error"}}}
    operation["responses"] = {
        "200": {
            "description": "The object, a list of objects, or a deleted object, in Stripe's shape.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "400": {"description": "Invalid request: the parameter is named in `param`.", "content": error},
        "401": {"description": "No valid secret key.", "content": error},
        "404": {"description": "No such object.", "content": error},
        "4XX": {"description": "Card errors (402), rate limits (429) and other refusals.", "content": error},
    }
