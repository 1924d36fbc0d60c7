"""`/openapi.json` describes what the API accepts: form and JSON bodies, bracket-notation query
parameters, the secret-key schemes, and Stripe's error object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from tenure.app import create_app
from tenure.config import Settings
from tenure.runtime import Runtime
from tenure.subscriptions.schemas import SubscriptionCreate

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
DEEP = {"style": "deepObject", "explode": True}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The served document; building it touches no database, so one app serves every test here."""
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    runtime = Runtime.build(
        Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir}/unused.sqlite3", secret_key="k")
    )
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/openapi.json")
            assert response.status_code == 200
            yield response.json()
    finally:
        runtime.close()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


def test_every_api_operation_takes_a_secret_key_as_bearer_or_basic(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A secret key `sk_…`.",
    }
    assert schemes["basicAuth"]["scheme"] == "basic"
    api = [(method, path, op) for method, path, op in operations(document) if path.startswith("/v1/")]
    assert len(api) > 70
    for method, path, operation in api:
        assert operation["security"] == [{"bearerAuth": []}, {"basicAuth": []}], (method, path)
        error = {"$ref": "#/components/schemas/Error"}
        for status in ("400", "401", "404", "4XX"):
            assert operation["responses"][status]["content"][JSON]["schema"] == error, (method, path)
        assert "422" not in operation["responses"]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_errors_are_documented_as_stripe_error_objects(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["type", "message"]
    assert set(error["properties"]["error"]["properties"]) >= {"type", "message", "code", "param"}


def test_post_bodies_are_documented_as_form_and_json_from_the_route_model(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/subscriptions"]["post"]["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == [FORM, JSON]
    form, json = body["content"][FORM], body["content"][JSON]
    assert form["schema"] == json["schema"]
    schema = form["schema"]
    # The very model the route validates with, plus `expand` (read by its own dependency).
    assert set(schema["properties"]) == set(SubscriptionCreate.model_fields) | {"expand"}
    assert set(schema["required"]) == {"customer", "items"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["items"]["minItems"] == 1
    assert form["encoding"]["items"] == DEEP
    assert form["encoding"]["metadata"] == DEEP
    assert form["encoding"]["expand"] == DEEP
    assert "customer" not in form["encoding"]  # a plain string is a plain form field


def test_nested_models_are_components(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    item = schemas["ItemParams"]
    assert item["additionalProperties"] is False
    assert item["properties"]["quantity"]["anyOf"][0] == {
        "maximum": 10_000_000,
        "minimum": 0,
        "type": "integer",
    }
    metadata = item["properties"]["metadata"]["anyOf"][0]
    assert metadata["maxProperties"] == 50
    assert metadata["additionalProperties"] == {"type": "string", "maxLength": 500}
    assert metadata["propertyNames"]["maxLength"] == 40


def test_query_parameters_use_bracket_notation_for_objects_and_arrays(document: dict[str, Any]) -> None:
    listing = document["paths"]["/v1/customers"]["get"]
    created = parameter(listing, "created")
    assert created["in"] == "query" and {"style": created["style"], "explode": created["explode"]} == DEEP
    assert {"$ref": "#/components/schemas/RangeFilter"} in created["schema"]["anyOf"]
    limit = parameter(listing, "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (
        1,
        100,
        10,
    )
    assert "style" not in limit
    expand = parameter(listing, "expand")
    assert expand["schema"]["type"] == "array" and expand["style"] == "deepObject"
    # DELETE takes its parameters in the query string, as Stripe's SDKs send them.
    cancel = document["paths"]["/v1/subscriptions/{subscription_id}"]["delete"]
    assert "requestBody" not in cancel
    assert parameter(cancel, "cancellation_details")["style"] == "deepObject"
    assert parameter(cancel, "prorate")["schema"]["type"] == "boolean"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_documented_parameters_are_known_and_others_are_refused(
    document: dict[str, Any], client: TestClient
) -> None:
    """Each documented parameter gets past the unknown-parameter check; an undocumented one does not
    where the document says so (`additionalProperties: false`: OpenAPI cannot say it of a query)."""
    checked = 0
    for method, path, operation in operations(document):
        if not path.startswith("/v1/"):
            continue
        url = "/".join("unknown_id" if part.startswith("{") else part for part in path.split("/"))
        closed, required = False, []
        if method == "POST":
            schema = operation.get("requestBody", {}).get("content", {}).get(FORM, {}).get("schema", {})
            names = list(schema.get("properties", {}))
            closed = schema.get("additionalProperties") is False
            required = schema.get("required", [])
        else:
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name in [*names, "surely_not_a_parameter"] if closed else names:
            if method == "POST":
                response = client.post(url, data={name: ""})
            else:
                response = client.request(method, url, params={name: ""})
            error = response.json().get("error", {}) if response.status_code >= 400 else {}
            unknown = error.get("code") == "parameter_unknown" and error.get("param") == name
            if name != "surely_not_a_parameter":
                assert not unknown, (method, path, name, response.text)
            elif required:  # a missing required parameter is reported first
                assert error.get("code") in ("parameter_missing", "parameter_unknown"), (path, response.text)
            else:
                assert unknown, (method, path, response.text)
            checked += 1
    assert checked > 300
