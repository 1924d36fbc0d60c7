"""Request helpers the catalog's endpoints share; they belong in `tenure.api` once moved there.

- Expanding fields whose ids carry no known prefix (custom product ids, coupon ids):
  `tenure.api.expand` finds a loader by the id's prefix, and a product created with
  `id=gold-plan` or a coupon `SUMMER25` has none. The endpoints that own such a field load it
  here first, then the generic expansion continues into the loaded object
  (`product.default_price`).
- Refusing NUL bytes, which PostgreSQL cannot store or compare in text: a 4xx, not a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from tenure.api.deps import request_params
from tenure.api.errors import NotFound

Load = Callable[[Session, str], dict[str, Any] | None]


def _substitute(session: Session, node: Any, parts: list[str], load: Load) -> None:
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return
        node = node.get(part)
    last = parts[-1]
    if isinstance(node, dict) and isinstance(node.get(last), str):
        node[last] = load(session, node[last]) or node[last]


def expand_field(session: Session, obj: dict[str, Any], paths: list[str], field: str, load: Load) -> None:
    """Load `field` (a dotted path) of `obj`, or of each object of a list, if `paths` ask for it."""
    is_list = obj.get("object") == "list"
    prefix = "data." if is_list else ""
    wanted = prefix + field
    if not any(path == wanted or path.startswith(wanted + ".") for path in paths):
        return
    for item in obj.get("data", []) if is_list else [obj]:
        _substitute(session, item, field.split("."), load)


async def reject_nul_bytes(request: Request) -> None:
    """A router dependency: parameters or path ids containing NUL bytes are refused up front."""
    for value in request.path_params.values():
        if isinstance(value, str) and "\x00" in value:
            raise NotFound(f"No such object: {value!r}")
    await request_params(request)  # parsing refuses NUL bytes in parameters
