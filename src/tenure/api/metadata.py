"""Stripe's metadata rules: 50 keys, keys up to 40 characters, values up to 500; `""` deletes."""

from __future__ import annotations

from typing import Any

from tenure.api.errors import InvalidRequest

MAX_KEYS = 50
MAX_KEY_LENGTH = 40
MAX_VALUE_LENGTH = 500


def apply_metadata(current: dict[str, str] | None, update: Any, *, param: str = "metadata") -> dict[str, str]:
    """Merge a metadata update into `current`: keys set to `""` are removed, `metadata=""` clears all."""
    merged = dict(current or {})
    if update is None:
        return merged
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise InvalidRequest("Invalid metadata: must be a hash of keys and values.", param=param)
    for key, value in update.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or "[" in key or "]" in key:
            raise InvalidRequest(
                f"Invalid metadata key: keys must be 1 to {MAX_KEY_LENGTH} characters without brackets.",
                param=f"{param}[{key}]",
            )
        if isinstance(value, dict | list):
            raise InvalidRequest("Invalid metadata value: must be a string.", param=f"{param}[{key}]")
        text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        if len(text) > MAX_VALUE_LENGTH:
            raise InvalidRequest(
                f"Invalid metadata value: must be at most {MAX_VALUE_LENGTH} characters.",
                param=f"{param}[{key}]",
            )
        if text == "":
            merged.pop(key, None)
        else:
            merged[key] = text
    if len(merged) > MAX_KEYS:
        raise InvalidRequest(f"Invalid metadata: at most {MAX_KEYS} keys are allowed.", param=param)
    return merged
