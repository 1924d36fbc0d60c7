"""Guards every catalog endpoint shares: input PostgreSQL cannot take is a 4xx, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

LISTS = ["/v1/products", "/v1/prices", "/v1/coupons", "/v1/promotion_codes"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/products", {"name": "nul\x00"}, "name"),
        ("/v1/products", {"name": "ok", "metadata": {"k": "v\x00"}}, "metadata[k]"),
        ("/v1/prices", {"currency": "usd", "unit_amount": 1, "product": "\x00"}, "product"),
        ("/v1/coupons", {"percent_off": 5, "name": "\x00"}, "name"),
        (
            "/v1/promotion_codes",
            {"coupon": "x", "restrictions": {"currency_options": {"e\x00": {}}}},
            "restrictions[currency_options][e\x00]",
        ),
    ],
)
def test_nul_bytes_in_parameters_are_refused(
    client: TestClient, path: str, body: dict[str, object], param: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert client.get(path).json()["data"] == []


@pytest.mark.parametrize("path", LISTS)
def test_nul_bytes_in_ids_and_queries(client: TestClient, path: str) -> None:
    assert client.get(f"{path}/a%00b").status_code == 404
    query = client.get(path, params={"starting_after": "\x00"})
    assert (query.status_code, query.json()["error"]["param"]) == (400, "starting_after")


@pytest.mark.parametrize("path", LISTS)
def test_out_of_range_created_filters(client: TestClient, path: str) -> None:
    for params in ({"created[gte]": str(10**30)}, {"created": str(-(10**30))}, {"created[lt]": str(2**63)}):
        response = client.get(path, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["param"].startswith("created")
    assert client.get(path, params={"created[lt]": str(2**63 - 1)}).status_code == 200
