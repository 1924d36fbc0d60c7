from __future__ import annotations

import pytest

from tenure.api.errors import InvalidRequest
from tenure.api.forms import parse_body, parse_form


def test_flat_and_nested_keys() -> None:
    assert parse_form("name=Ann&metadata[plan]=pro&address[city]=Lyon") == {
        "name": "Ann",
        "metadata": {"plan": "pro"},
        "address": {"city": "Lyon"},
    }


def test_indexed_arrays_become_lists_in_index_order() -> None:
    body = "items[1][price]=price_b&items[0][price]=price_a&items[0][quantity]=2"
    assert parse_form(body) == {"items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}]}


def test_empty_brackets_append() -> None:
    assert parse_form("expand[]=customer&expand[]=latest_invoice") == {
        "expand": ["customer", "latest_invoice"]
    }


def test_blank_values_are_kept_because_they_unset_fields() -> None:
    assert parse_form("description=&metadata[a]=") == {"description": "", "metadata": {"a": ""}}


def test_percent_encoding() -> None:
    assert parse_form("email=a%2Bb%40example.com&name=Jos%C3%A9") == {
        "email": "a+b@example.com",
        "name": "José",
    }


@pytest.mark.parametrize("body", ["a[b=1", "a[]]=1", "a=1&a[b]=2&a[b][c]=3"])
def test_malformed_brackets_are_refused(body: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_form(body)


def test_json_body() -> None:
    assert parse_body(b'{"name": "Ann", "items": [{"price": "p"}]}', "application/json") == {
        "name": "Ann",
        "items": [{"price": "p"}],
    }


@pytest.mark.parametrize("body", [b"[1, 2]", b"{nope"])
def test_bad_json_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_body(body, "application/json")
