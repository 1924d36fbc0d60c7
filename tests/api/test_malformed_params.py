"""Parameters refused before any endpoint runs, as Stripe does: sparse arrays, invalid UTF-8."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.customers.models import Customer
from tenure.runtime import Runtime

CUSTOMERS = "/v1/customers"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _customers(runtime: Runtime) -> int:
    with runtime.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ("preferred_locales[99999999]=fr", "preferred_locales", "Invalid array"),
        ("preferred_locales[0]=fr&preferred_locales[2]=de", "preferred_locales", "Invalid array"),
        ("name=%ff%fe", "name", "UTF-8"),
        ("name=Ann&metadata[note]=caf%E9", "metadata[note]", "UTF-8"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_param(
    client: TestClient, runtime: Runtime, body: str, param: str, message: str
) -> None:
    response = client.post(CUSTOMERS, content=body, headers=FORM)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]
    assert _customers(runtime) == 0


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        ("expand[1]=data.test_clock", "expand", "Invalid array"),
        ("created[gte]=1&expand[5]=data.test_clock", "expand", "Invalid array"),
        ("email=%ff%40example.com", "email", "UTF-8"),
    ],
)
def test_a_malformed_query_string_is_a_400_naming_the_param(
    client: TestClient, query: str, param: str, message: str
) -> None:
    response = client.get(f"{CUSTOMERS}?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]


def test_contiguous_indexes_in_any_order_still_work(client: TestClient) -> None:
    response = client.post(CUSTOMERS, content="preferred_locales[1]=de&preferred_locales[0]=fr", headers=FORM)
    assert response.status_code == 200, response.text
    assert response.json()["preferred_locales"] == ["fr", "de"]


# JSON's `\ud800` escapes decode to lone surrogates, the same unencodable text as `%ff` in a form:
# PostgreSQL refuses it in JSONB and the response cannot encode it, so it was a 500.
@pytest.mark.parametrize(
    ("body", "param"),
    [
        (rb'{"name": "x", "metadata": {"note": "\ud800"}}', "metadata[note]"),
        (rb'{"metadata": {"\udc80": "b"}}', "metadata[\ufffd]"),
        (rb'{"preferred_locales": ["fr", "\udfff"]}', "preferred_locales[1]"),
    ],
)
def test_json_with_lone_surrogates_is_a_400_naming_the_param(
    client: TestClient, runtime: Runtime, body: bytes, param: str
) -> None:
    response = client.post(CUSTOMERS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "UTF-8" in error["message"]
    assert _customers(runtime) == 0
