"""Price rules as plain functions (no database)."""

from __future__ import annotations

import pytest

from tenure.prices.models import interval_within_limit


@pytest.mark.parametrize(
    ("interval", "count", "allowed"),
    [
        ("day", 365, True),
        ("day", 366, False),
        ("week", 52, True),
        ("week", 53, False),
        ("month", 12, True),
        ("month", 13, False),
        ("year", 1, True),
        ("year", 2, False),
        ("month", 0, False),
    ],
)
def test_interval_limit(interval: str, count: int, allowed: bool) -> None:
    assert interval_within_limit(interval, count) is allowed
