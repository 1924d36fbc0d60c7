"""Billing period arithmetic in UTC, anchored as Stripe anchors it.

Every boundary is computed from the billing cycle anchor, never from the previous boundary, so
an anchor on the 31st gives Jan 31 → Feb 28 (or 29) → Mar 31, with no drift.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from tenure.api.errors import InvalidRequest

DAY = 86_400
# 9999-12-31T23:59:59Z: the last moment a period can end (timestamps are bounded to it too).
LAST_MOMENT = 253_402_300_799


class PeriodOutOfRange(InvalidRequest):
    """A billing period would end after the year 9999 (a far-future anchor, trial or test clock)."""

    code = "period_out_of_range"

    def __init__(self) -> None:
        super().__init__("The subscription's billing periods would run past the year 9999.")


def _to_dt(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def add_months(timestamp: int, months: int) -> int:
    """`timestamp` moved by `months` calendar months, clamping the day to the month's length."""
    moment = _to_dt(timestamp)
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    if year > 9999:
        raise PeriodOutOfRange()
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return int(moment.replace(year=year, month=month + 1, day=day).timestamp())


def boundary(anchor: int, interval: str, interval_count: int, k: int) -> int:
    """The k-th period boundary after `anchor` (k = 0 is the anchor itself)."""
    steps = k * interval_count
    if interval in ("day", "week"):
        moment = anchor + steps * (DAY if interval == "day" else 7 * DAY)
        if moment > LAST_MOMENT:
            raise PeriodOutOfRange()
        return moment
    if interval == "month":
        return add_months(anchor, steps)
    if interval == "year":
        return add_months(anchor, steps * 12)
    raise ValueError(f"unknown interval {interval!r}")


def _approximate_index(anchor: int, interval: str, interval_count: int, moment: int) -> int:
    length = {"day": DAY, "week": 7 * DAY, "month": 28 * DAY, "year": 365 * DAY}[interval] * interval_count
    return max((moment - anchor) // length - 1, 0) if moment > anchor else 0


def _index_of(anchor: int, interval: str, interval_count: int, moment: int) -> int:
    """The k with boundary(k) <= moment < boundary(k + 1), for moment >= anchor."""
    k = _approximate_index(anchor, interval, interval_count, moment)
    while k > 0 and boundary(anchor, interval, interval_count, k) > moment:
        k -= 1
    while boundary(anchor, interval, interval_count, k + 1) <= moment:
        k += 1
    return k


def next_boundary(anchor: int, interval: str, interval_count: int, after: int) -> int:
    """The first boundary strictly after `after` (the end of the period containing `after`)."""
    if after < anchor:
        return anchor
    return boundary(anchor, interval, interval_count, _index_of(anchor, interval, interval_count, after) + 1)


def period_containing(anchor: int, interval: str, interval_count: int, moment: int) -> tuple[int, int]:
    """(start, end) of the billing period that contains `moment` (start <= moment < end)."""
    if moment < anchor:
        return moment, anchor
    k = _index_of(anchor, interval, interval_count, moment)
    return boundary(anchor, interval, interval_count, k), boundary(anchor, interval, interval_count, k + 1)


def monthly_factor(interval: str, interval_count: int) -> tuple[int, int]:
    """(numerator, denominator) that turns one period's amount into a monthly amount (for MRR)."""
    if interval == "month":
        return 1, interval_count
    if interval == "year":
        return 1, 12 * interval_count
    if interval == "week":
        return 52, 12 * interval_count
    if interval == "day":
        return 365, 12 * interval_count
    raise ValueError(f"unknown interval {interval!r}")
