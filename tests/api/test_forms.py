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


# Stripe answers an array whose indexes do not run 0, 1, 2… with "Invalid array": a sparse index is
# neither compacted into `items[0]` nor allowed to build a huge list.
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("items[99999999][price]=p", "items"),
        ("items[1][price]=p", "items"),
        ("items[0][price]=a&items[2][price]=c", "items"),
        ("items[0][price]=a&items[00][quantity]=2", "items"),  # two spellings of one index
        ("expand[3]=customer", "expand"),
        ("items[0][tax_rates][1]=txr_1", "items[0][tax_rates]"),
    ],
)
def test_array_indexes_must_run_from_zero_without_gaps(body: str, param: str) -> None:
    with pytest.raises(InvalidRequest, match="Invalid array") as refused:
        parse_form(body)
    assert refused.value.param == param


def test_contiguous_indexes_nested_in_any_order_are_arrays() -> None:
    body = "items[1][tax_rates][1]=b&items[0][price]=p&items[1][tax_rates][0]=a&items[1][price]=q"
    assert parse_form(body) == {
        "items": [{"price": "p"}, {"price": "q", "tax_rates": ["a", "b"]}],
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("name=%ff%fe", "name"),
        ("email=a%40example.com&metadata[note]=caf%E9", "metadata[note]"),  # Latin-1, not UTF-8
        ("items[0][price]=%c3", "items[0][price]"),  # a truncated sequence
    ],
)
def test_percent_encoded_invalid_utf8_is_refused_naming_the_param(body: str, param: str) -> None:
    with pytest.raises(InvalidRequest, match="UTF-8") as refused:
        parse_form(body)
    assert refused.value.param == param


def test_percent_encoded_invalid_utf8_in_a_name_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="UTF-8"):
        parse_form("na%ffme=x")
    with pytest.raises(InvalidRequest, match="UTF-8"):
        parse_body(b"metadata[%ff]=x", "application/x-www-form-urlencoded")


def test_valid_utf8_still_decodes() -> None:
    assert parse_form("name=%E6%97%A5%E6%9C%AC&city=Z%C3%BCrich") == {"name": "日本", "city": "Zürich"}
