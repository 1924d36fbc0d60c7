"""The `cancellation_days` rollup: one row per UTC day and (reason, feedback, price, currency,
tenure bucket), moved by +1/-1 whenever a `cancellations` row appears, changes key or goes away.

Both databases take the same upsert (`INSERT … ON CONFLICT … DO UPDATE`), which holds the row
lock until commit on PostgreSQL, so concurrent cancellations on one day add up exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tenure.insights.models import CancellationDay, CancellationRecord

DAY = 86_400
TENURE_BUCKETS = (
    ("lt_1m", 0, 30),
    ("1_3m", 30, 91),
    ("3_6m", 91, 182),
    ("6_12m", 182, 365),
    ("gt_12m", 365, None),
)
NONE = ""  # "no feedback" / "no price" in the rollup's key
KEY = ("day", "reason", "feedback", "price_id", "currency", "tenure_bucket")


class DayKey(NamedTuple):
    day: int
    reason: str
    feedback: str
    price_id: str
    currency: str
    tenure_bucket: str


def day_of(timestamp: int) -> int:
    return timestamp - timestamp % DAY


def tenure_bucket(days: int) -> str:
    for name, low, high in TENURE_BUCKETS:
        if days >= low and (high is None or days < high):
            return name
    return TENURE_BUCKETS[-1][0]


def key_of(record: CancellationRecord) -> DayKey:
    return DayKey(
        day=day_of(record.canceled_at),
        reason=record.reason,
        feedback=record.feedback or NONE,
        price_id=record.price_id or NONE,
        currency=record.currency,
        tenure_bucket=tenure_bucket(record.tenure_days),
    )


def move(session: Session, key: DayKey, *, count: int, mrr: int) -> None:
    """Add `count` cancellations worth `mrr` to `key` (negative to take them away)."""
    dialect = session.get_bind().dialect.name
    upsert: Any = (postgresql if dialect == "postgresql" else sqlite).insert(CancellationDay)
    statement = upsert.values(**key._asdict(), count=count, mrr=mrr).on_conflict_do_update(
        index_elements=list(KEY),
        set_={
            "count": CancellationDay.count + upsert.excluded.count,
            "mrr": CancellationDay.mrr + upsert.excluded.mrr,
        },
    )
    session.execute(statement)
    if count < 0:
        session.execute(
            delete(CancellationDay).where(
                *(getattr(CancellationDay, name) == value for name, value in key._asdict().items()),
                CancellationDay.count <= 0,
            )
        )


def _record_columns() -> dict[str, Any]:
    """The rollup's key, as expressions over one `cancellations` row."""
    record = CancellationRecord
    bucket = case(
        *((record.tenure_days < high, literal(name)) for name, _, high in TENURE_BUCKETS if high is not None),
        else_=literal(TENURE_BUCKETS[-1][0]),
    )
    return {
        "day": record.canceled_at - record.canceled_at % DAY,
        "reason": record.reason,
        "feedback": func.coalesce(record.feedback, NONE),
        "price_id": func.coalesce(record.price_id, NONE),
        "currency": record.currency,
        "tenure_bucket": bucket,
    }


def totals(
    session: Session, *, start: int, end: int, price: str | None, by: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, int]]:
    """Cancellations decided in [start, end), counted and summed (MRR, own currency) per value of
    the `by` columns of KEY. Whole days come from the rollup, the partial days at either edge of
    a window that does not start or end at midnight UTC from `cancellations`."""
    first_whole, last_whole = day_of(start + DAY - 1), day_of(end)
    result: dict[tuple[Any, ...], list[int]] = {}

    def add(rows: Any) -> None:
        for *key, count, mrr in rows:
            entry = result.setdefault(tuple(key), [0, 0])
            entry[0] += int(count)
            entry[1] += int(mrr or 0)

    def from_records(low: int, high: int) -> None:
        if low >= high:
            return
        columns = _record_columns()
        record = CancellationRecord
        conditions = [record.canceled_at >= low, record.canceled_at < high]
        if price:
            conditions.append(record.price_id == price)
        keys = [columns[name] for name in by]
        add(
            session.execute(
                select(*keys, func.count(), func.sum(record.mrr)).where(*conditions).group_by(*keys)
            )
        )

    if first_whole >= last_whole:
        from_records(start, end)
    else:
        from_records(start, first_whole)
        table = CancellationDay
        conditions = [table.day >= first_whole, table.day < last_whole]
        if price:
            conditions.append(table.price_id == price)
        keys = [getattr(table, name) for name in by]
        add(
            session.execute(
                select(*keys, func.sum(table.count), func.sum(table.mrr)).where(*conditions).group_by(*keys)
            )
        )
        from_records(last_whole, end)
    return {key: (count, mrr) for key, (count, mrr) in result.items() if count}


def rebuild(session: Session) -> None:
    """Recount the whole rollup from `cancellations` (after a bulk load that bypassed `move`)."""
    columns = _record_columns()
    keys = [columns[name] for name in KEY]
    recount = select(*keys, func.count(), func.sum(CancellationRecord.mrr)).group_by(*keys)
    session.execute(delete(CancellationDay))
    session.execute(insert(CancellationDay).from_select([*KEY, "count", "mrr"], recount))
