"""`expand[]`: replace ids by the objects they name, on the fields Stripe allows it on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest

Loader = Callable[[Session, str], dict[str, Any] | None]

_LOADERS: dict[str, Loader] = {}
_EXPANDABLE: dict[str, set[str]] = {}
MAX_DEPTH = 4


def register_loader(prefix: str, loader: Loader) -> None:
    """Objects whose id starts with `prefix_` are loaded and serialized by `loader`."""
    _LOADERS[prefix] = loader


def register_expandable(object_name: str, *fields: str) -> None:
    """Fields of `object_name` holding ids that `expand[]` may replace; a field inside a plain hash
    of the object is named by its dotted path (`invoice_settings.default_payment_method`)."""
    _EXPANDABLE.setdefault(object_name, set()).update(fields)


def _load(session: Session, object_id: str) -> dict[str, Any] | None:
    loader = _LOADERS.get(object_id.split("_", 1)[0])
    return loader(session, object_id) if loader else None


def _expand_path(
    session: Session, node: Any, parts: list[str], full: str, owner: str | None = None, prefix: str = ""
) -> Any:
    """`owner` is the nearest enclosing object type and `prefix` the path from it, so a field inside
    a plain hash is registered by its dotted path (`invoice_settings.default_payment_method`)."""
    if not parts or node is None:
        return node
    if isinstance(node, list):
        return [_expand_path(session, item, parts, full, owner, prefix) for item in node]
    if not isinstance(node, dict):
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    if node.get("object") is not None:
        owner, prefix = str(node["object"]), ""
    head, rest = parts[0], parts[1:]
    if head not in node:
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    value = node[head]
    allowed = f"{prefix}{head}" in _EXPANDABLE.get(str(owner), set())
    if isinstance(value, list) and allowed and all(isinstance(item, str) for item in value):
        # A list of ids (e.g. a subscription's `discounts`): each one is expanded.
        node[head] = [_expand_path(session, _load(session, item) or item, rest, full) for item in value]
        return node
    if isinstance(value, dict | list):
        node[head] = _expand_path(session, value, rest, full, owner, f"{prefix}{head}.")
        return node
    # Ids (and nulls) may only be expanded where the object type allows it, as in Stripe.
    if not allowed:
        raise InvalidRequest(f"This property cannot be expanded ({full}).", param="expand")
    if isinstance(value, str):
        value = _load(session, value) or value
    node[head] = _expand_path(session, value, rest, full)
    return node


def expand(session: Session, obj: dict[str, Any], paths: list[str] | None) -> dict[str, Any]:
    """Expand each dotted path of `paths` in `obj` (in place) and return it."""
    for path in paths or []:
        if not isinstance(path, str) or not path:
            raise InvalidRequest("Invalid expand parameter.", param="expand")
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise InvalidRequest(
                f"You cannot expand more than {MAX_DEPTH} levels of a property ({path}).", param="expand"
            )
        _expand_path(session, obj, parts, path)
    return obj
