"""Stripe's bracket notation (`items[0][price]=x`, `expand[]=y`) to nested dicts and lists."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from tenure.api.errors import InvalidRequest

_TOKEN = re.compile(r"\[([^\[\]]*)\]")
# `items[0]`-style indexes: ASCII digits only (`"²".isdigit()` is true but `int("²")` fails), and
# short enough for `int()` (which refuses more than 4300 digits).
_INDEX = re.compile(r"[0-9]{1,9}")
_MAX_DEPTH = 8
# Text PostgreSQL cannot store and UTF-8 cannot encode: NUL, and the lone surrogates that stand for
# undecodable bytes (`%ff` in a form, decoded with `surrogateescape`) or come from JSON's `\ud800`.
_NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    tail = "[" + rest
    parts = _TOKEN.findall(tail)
    if "".join(f"[{p}]" for p in parts) != tail:
        raise InvalidRequest(f"Invalid parameter name: {key}", param=key)
    return [head, *parts]


def _assign(container: dict[str, Any], parts: list[str], value: str, original_key: str) -> None:
    node: Any = container
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        nxt = None if last else parts[index + 1]
        if part == "":
            if not isinstance(node, _ListBuilder):
                raise InvalidRequest(f"Invalid array parameter: {original_key}", param=original_key)
            if last:
                node.append(value)
                return
            child: Any = _ListBuilder() if nxt == "" else {}
            node.append(child)
            node = child
            continue
        if not isinstance(node, dict):
            raise InvalidRequest(f"Invalid parameter: {original_key}", param=original_key)
        if last:
            existing = node.get(part)
            if isinstance(existing, dict | _ListBuilder):
                raise InvalidRequest(f"Invalid parameter: {original_key}", param=original_key)
            node[part] = value
            return
        existing = node.get(part)
        if isinstance(existing, str):
            raise InvalidRequest(f"Invalid parameter: {original_key}", param=original_key)
        if existing is None:
            existing = _ListBuilder() if nxt == "" else {}
            node[part] = existing
        node = existing


class _ListBuilder(list[Any]):
    """Marks lists built from `key[]` so that `key[0]` style indexes stay dicts until finished."""


def _finish(value: Any, name: str) -> Any:
    if isinstance(value, _ListBuilder):
        return [_finish(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        # `items[0][price]`, `items[1][price]` arrive as a dict keyed by index: make it a list. As on
        # Stripe, the indexes must be 0, 1, 2… (in any order): a gap would otherwise be closed up
        # silently, `items[1]` becoming `items[0]`.
        if value and all(_INDEX.fullmatch(k) for k in value):
            if sorted(int(k) for k in value) != list(range(len(value))):
                raise InvalidRequest(
                    f"Invalid array: the indexes of {name} must run from 0 without gaps.", param=name
                )
            return [_finish(value[k], f"{name}[{int(k)}]") for k in sorted(value, key=int)]
        return {k: _finish(v, f"{name}[{k}]") for k, v in value.items()}
    return value


def parse_form(body: str) -> dict[str, Any]:
    """Parse a form-encoded body or query string in bracket notation."""
    result: dict[str, Any] = {}
    try:
        # `surrogateescape`: percent-encoded bytes that are not UTF-8 (`%ff`) are kept as lone
        # surrogates and refused below, naming the parameter, instead of becoming U+FFFD silently.
        pairs = parse_qsl(
            body, keep_blank_values=True, strict_parsing=False, max_num_fields=5000, errors="surrogateescape"
        )
    except ValueError as exc:
        raise InvalidRequest("The request body could not be parsed.") from exc
    for key, value in pairs:
        if _SURROGATE.search(key):
            raise InvalidRequest("Invalid parameter name: not valid UTF-8.", param=_printable(key))
        if _SURROGATE.search(value):
            raise InvalidRequest(f"Invalid string: {key} is not valid UTF-8.", param=key)
        parts = _split_key(key)
        if len(parts) > _MAX_DEPTH:
            raise InvalidRequest(f"Parameter nested too deeply: {key}", param=key)
        _assign(result, parts, value, key)
    # Only nested values become lists: top-level names like `0` stay names (and are then unknown).
    return {key: _finish(value, key) for key, value in result.items()}


def _json_depth(value: Any) -> int:
    """How deeply objects and arrays nest (a flat object is 1), without recursing."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The request body is not valid JSON.") from exc
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    # The same limit as bracket notation (`a[b][c]…`), which JSON would otherwise bypass: deep
    # structures exhaust the stack of whatever walks them later.
    if _json_depth(data) > _MAX_DEPTH:
        raise InvalidRequest("The request body is nested too deeply.")
    return data


def parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    if "application/json" in content_type:
        return parse_json(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The request body must be UTF-8.") from exc
    return parse_form(text)


def _printable(name: str) -> str:
    return _SURROGATE.sub("\ufffd", name)


def _refusal(text: str, param: str) -> InvalidRequest | None:
    if _NUL in text:
        return InvalidRequest("Invalid string: NUL bytes (\\u0000) are not allowed.", param=_printable(param))
    if _SURROGATE.search(text):
        return InvalidRequest(
            f"Invalid string: {_printable(param)} is not valid UTF-8.", param=_printable(param)
        )
    return None


def find_unstorable(value: Any, name: str) -> InvalidRequest | None:
    """The refusal for the first name or string that cannot be stored as text, naming its parameter."""
    if isinstance(value, str):
        return _refusal(value, name)
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        children = [(f"{name}[{key}]" if name else str(key), item) for key, item in value.items()]
        for child_name, _item in children:
            refused = _refusal(child_name, child_name)  # in the key itself
            if refused is not None:
                return refused
    elif isinstance(value, list):
        children = [(f"{name}[{index}]", item) for index, item in enumerate(value)]
    for child_name, item in children:
        refused = find_unstorable(item, child_name)
        if refused is not None:
            return refused
    return None


def reject_unstorable(data: dict[str, Any]) -> None:
    """PostgreSQL cannot store NUL or invalid UTF-8 in text: a 400 naming the parameter, never a 500."""
    refused = find_unstorable(data, "")
    if refused is not None:
        raise refused


async def request_params(request: Request) -> dict[str, Any]:
    """All parameters of the request, parsed once: the query string, and for POST the form or JSON body.

    The query string and the body are one namespace, as on Stripe (a body parameter wins).
    """
    cached: dict[str, Any] | None = getattr(request.state, "params", None)
    if cached is not None:
        return cached
    data = parse_form(request.url.query)
    if request.method == "POST":
        body = await request.body()
        if body:
            data.update(parse_body(body, request.headers.get("content-type", "")))
    reject_unstorable(data)
    request.state.params = data
    return data
