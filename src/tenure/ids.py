"""Stripe-style object ids: a prefix and random base62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# Bytes 0..247 map onto the 62 characters four times over; the 8 bytes above are dropped rather than
# folded in, so every character stays equally likely. bytes.translate does the mapping and the
# dropping in C: an id costs about a microsecond, where a secrets.choice per character cost 30.
_USABLE = 4 * len(_ALPHABET)
_TO_CHARACTER = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) if b < _USABLE else 0 for b in range(256))
_DROPPED = bytes(range(_USABLE, 256))


def random_token(length: int) -> str:
    token = b""
    while len(token) < length:
        token += secrets.token_bytes(length - len(token) + 4).translate(_TO_CHARACTER, _DROPPED)
    return token[:length].decode("ascii")


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{random_token(length)}"
