from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenure.subscriptions.periods import (
    PeriodOutOfRange,
    add_months,
    boundary,
    next_boundary,
    period_containing,
)


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def test_month_end_anchoring_as_stripe() -> None:
    anchor = ts(2025, 1, 31, 12)
    ends = [boundary(anchor, "month", 1, k) for k in range(1, 5)]
    assert ends == [ts(2025, 2, 28, 12), ts(2025, 3, 31, 12), ts(2025, 4, 30, 12), ts(2025, 5, 31, 12)]
    assert boundary(ts(2024, 1, 31), "month", 1, 1) == ts(2024, 2, 29)
    assert boundary(ts(2024, 2, 29), "year", 1, 1) == ts(2025, 2, 28)
    assert boundary(ts(2024, 2, 29), "year", 1, 4) == ts(2028, 2, 29)


def test_next_boundary_and_containing_period() -> None:
    anchor = ts(2025, 1, 31)
    assert next_boundary(anchor, "month", 1, ts(2025, 2, 28)) == ts(2025, 3, 31)
    assert next_boundary(anchor, "month", 1, ts(2025, 2, 27)) == ts(2025, 2, 28)
    assert period_containing(anchor, "month", 1, ts(2025, 3, 5)) == (ts(2025, 2, 28), ts(2025, 3, 31))
    assert add_months(ts(2025, 10, 31), 4) == ts(2026, 2, 28)


anchors = st.integers(min_value=ts(2000, 1, 1), max_value=ts(2090, 1, 1))
intervals = st.sampled_from(["day", "week", "month", "year"])


@given(anchor=anchors, interval=intervals, count=st.integers(1, 3), periods=st.integers(1, 40))
def test_periods_tile_time_without_gaps_or_overlaps(
    anchor: int, interval: str, count: int, periods: int
) -> None:
    bounds = [boundary(anchor, interval, count, k) for k in range(periods + 1)]
    assert all(a < b for a, b in itertools.pairwise(bounds))
    for start, end in itertools.pairwise(bounds):
        assert next_boundary(anchor, interval, count, start) == end
        assert period_containing(anchor, interval, count, start) == (start, end)
        assert period_containing(anchor, interval, count, end - 1) == (start, end)


@given(anchor=anchors, periods=st.integers(1, 30))
def test_monthly_periods_never_skip_or_repeat_a_day(anchor: int, periods: int) -> None:
    days = []
    for k in range(periods):
        start = datetime.fromtimestamp(boundary(anchor, "month", 1, k), tz=UTC)
        end = datetime.fromtimestamp(boundary(anchor, "month", 1, k + 1), tz=UTC)
        days.append((start.date(), end.date()))
        assert 28 <= (end - start).days <= 31
    for (_, end), (start, _) in itertools.pairwise(days):
        assert end == start


def test_periods_past_the_year_9999_are_a_clear_error() -> None:
    december = ts(9999, 12, 15)
    for interval in ("day", "week", "month", "year"):
        with pytest.raises(PeriodOutOfRange):
            next_boundary(december, interval, 1, december + 40 * 86_400)
    assert next_boundary(ts(9999, 1, 15), "month", 1, ts(9999, 1, 20)) == ts(9999, 2, 15)
