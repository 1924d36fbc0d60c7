"""Request field types the portal's parameters share: links shown to customers, colours."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

MAX_URL_LENGTH = 2048
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_EMAIL = re.compile(r"^[^@\s/?#]+@[^@\s/?#]+\.[^@\s/?#]+$")


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host: never `javascript:`, `data:`, relative or protocol-relative."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError(f"Invalid URL: {value!r} must be an absolute http:// or https:// URL.")
    return value


def _contact_url(value: str) -> str:
    """An offer's contact link: http(s), or `mailto:` with one address."""
    if value.lower().startswith("mailto:") and _EMAIL.match(value[len("mailto:") :]):
        return value
    if not is_http_url(value):
        raise ValueError(f"Invalid URL: {value!r} must be an http(s) URL or a mailto: address.")
    return value


def _hex_color(value: str) -> str:
    if not _HEX_COLOR.match(value):
        raise ValueError(f"Invalid colour: {value!r} must be #rrggbb.")
    return value.lower()


HttpUrl = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(_http_url)]
ContactUrl = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(_contact_url)]
HexColor = Annotated[str, AfterValidator(_hex_color)]
