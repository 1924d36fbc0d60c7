"""Hypothesis-generated bodies and query strings in Stripe's bracket notation, well-formed or not.

The parser must turn any input into parameters or a 400, and the endpoints behind it must answer
every body with a 2xx or a Stripe error object: never a 500.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenure.api.errors import InvalidRequest
from tenure.api.forms import parse_body, parse_form
from tests.fuzz.support import assert_stripe_error

# Real parameter names, so that generated bodies also get past "unknown parameter" into the services.
NAMES = [
    "customer",
    "items",
    "price",
    "quantity",
    "metadata",
    "expand",
    "email",
    "name",
    "created",
    "limit",
    "line_items",
    "mode",
    "success_url",
    "flow_data",
    "type",
    "subscription_cancel",
    "subscription",
    "retention",
    "coupon_offer",
    "coupon",
    "recurring",
    "interval",
    "unit_amount",
    "currency",
    "product_data",
    "cancel_at_period_end",
    "trial_end",
    "discounts",
    "preferred_locales",
    "address",
    "gte",
    "lt",
    "0",
    "1",
]
ODD = st.sampled_from(
    ["[", "]", "]]", "[[", "[]", "[][]", "", "\x00", "%", "&", "=", "é", "²", "٣", "9" * 50]
)
NAME = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.from_regex(r"[0-9]{1,4}", fullmatch=True))


@st.composite
def keys(draw: st.DrawFn) -> str:
    """`name`, `name[a][0][]`, and broken variants: `a[`, `a]]`, `a[][]`, `[x]`, NUL bytes."""
    key = draw(st.one_of(NAME, ODD))
    for _ in range(draw(st.integers(0, 9))):
        key += draw(
            st.one_of(
                NAME.map(lambda part: f"[{part}]"),
                st.just("[]"),
                ODD,
            )
        )
    return key


SHORT_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e400", "9" * 30, "true", "now", "pm_card_visa"]),
    st.text(max_size=40),
)
# Long values too, for bodies (a URL is capped at 64 kB by the client before the server sees it).
VALUES = st.one_of(
    SHORT_VALUES,
    st.just("x" * 6000),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=5).map(lambda text: text * 2000),
)


@st.composite
def form_bodies(draw: st.DrawFn, *, query: bool = False) -> str:
    pairs = draw(st.lists(st.tuples(keys(), SHORT_VALUES if query else VALUES), max_size=12))
    # A URL cannot carry raw bytes: query strings are always percent-encoded.
    encode = query or draw(st.booleans())
    parts = []
    for key, value in pairs:
        if encode:
            parts.append(f"{quote(key, safe='[]')}={quote(value, safe='')}")
        else:  # raw: stray `&`, `=` and `%` reach the parser as they are
            parts.append(f"{key}={value}")
    return "&".join(parts)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.one_of(NAME, ODD), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None, database=None)
@given(body=form_bodies())
def test_any_form_body_parses_or_is_refused(body: str) -> None:
    try:
        parsed = parse_form(body)
    except InvalidRequest:
        return
    assert isinstance(parsed, dict)


@settings(max_examples=200, deadline=None, database=None)
@given(raw=st.one_of(st.binary(max_size=200), st.builds(str.encode, form_bodies())))
def test_any_bytes_parse_or_are_refused(raw: bytes) -> None:
    for content_type in ("application/x-www-form-urlencoded", "application/json"):
        try:
            parsed = parse_body(raw, content_type)
        except InvalidRequest:
            continue
        assert isinstance(parsed, dict)


def test_deep_json_is_refused_not_a_stack_overflow() -> None:
    for body in (b"[" * 100_000, b'{"a":' * 50 + b"1" + b"}" * 50):
        with pytest.raises(InvalidRequest, match="nested too deeply"):
            parse_body(body, "application/json")


@pytest.mark.parametrize("index", ["²", "٣", "9" * 5000])
def test_only_ascii_digits_index_arrays(index: str) -> None:
    parsed = parse_form(f"items[{index}][price]=p")
    assert parsed == {"items": {index: {"price": "p"}}}


# Representative endpoints: creation with nested arrays, objects deep inside (flow_data), a list
# with range filters in the query string, and an update.
ENDPOINTS = [
    ("POST", "/v1/customers"),
    ("POST", "/v1/subscriptions"),
    ("POST", "/v1/prices"),
    ("POST", "/v1/checkout/sessions"),
    ("POST", "/v1/billing_portal/sessions"),
    ("GET", "/v1/subscriptions"),
]


def _send(client: TestClient, method: str, path: str, body: str, content_type: str) -> None:
    if method == "GET":
        response = client.get(f"{path}?{body}")
    else:
        response = client.post(
            path, content=body.encode("utf-8", "surrogatepass"), headers={"content-type": content_type}
        )
    assert response.status_code < 500, f"{method} {path} {body[:300]!r}: {response.text[:300]}"
    if response.status_code >= 400:
        assert_stripe_error(response.status_code, response.text)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_endpoints_answer_any_form_body_without_a_500(client: TestClient, method: str, path: str) -> None:
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=form_bodies(query=method == "GET"))
    def run(body: str) -> None:
        _send(client, method, path, body, "application/x-www-form-urlencoded")

    run()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", [path for method, path in ENDPOINTS if method == "POST"])
def test_endpoints_answer_any_json_body_without_a_500(client: TestClient, path: str) -> None:
    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        body=st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)), JSON_VALUES, max_size=6)
    )
    def run(body: dict[str, object]) -> None:
        _send(client, "POST", path, json.dumps(body), "application/json")

    run()
