"""The cancellation insights: every figure is an aggregate over `cancellations` and
`cancellation_flows` (definitions in docs/insights.md)."""

from __future__ import annotations

from calendar import monthrange
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from tenure.insights.categories import INVOLUNTARY, UNSPECIFIED, category
from tenure.insights.currency import Converter
from tenure.insights.daily import TENURE_BUCKETS, totals
from tenure.retention.models import CancellationFlow, FlowOutcome, OfferResponse
from tenure.subscriptions.models import Subscription, SubscriptionItem

DAY = 86_400
WEEK = 7 * DAY
FIRST_MONDAY = 4 * DAY  # 1970-01-05, a Monday
SAVE_HORIZONS = (30, 60, 90)


def _month_start(timestamp: int) -> int:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


def _next_month(start: int) -> int:
    moment = datetime.fromtimestamp(start, tz=UTC)
    return start + monthrange(moment.year, moment.month)[1] * DAY


def period_starts(start: int, end: int, interval: str) -> list[int]:
    """The buckets covering [start, end): Monday-based weeks or calendar months, in UTC."""
    if interval == "week":
        first = FIRST_MONDAY + ((start - FIRST_MONDAY) // WEEK) * WEEK
        return list(range(first, end, WEEK))
    starts, cursor = [], _month_start(start)
    while cursor < end:
        starts.append(cursor)
        cursor = _next_month(cursor)
    return starts


def _by_feedback(
    rows: dict[tuple[Any, ...], tuple[int, int]], convert: Converter
) -> dict[str, tuple[int, int]]:
    """Count and converted MRR per category (categories.py), from totals keyed by
    (…, reason, feedback, currency)."""
    result: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (*_, reason, feedback, currency), (count, mrr) in rows.items():
        entry = result[category(reason=reason, feedback=feedback)]
        entry[0] += count
        entry[1] += convert(mrr, currency)
    return {key: (value[0], value[1]) for key, value in result.items()}


def _period_start(day: int, interval: str) -> int:
    if interval == "week":
        return FIRST_MONDAY + ((day - FIRST_MONDAY) // WEEK) * WEEK
    return _month_start(day)


def _retention(
    session: Session, start: int, end: int, price: str | None, *, now: int, convert: Converter
) -> dict[str, Any]:
    conditions: list[ColumnElement[bool]] = [
        CancellationFlow.started_at >= start,
        CancellationFlow.started_at < end,
        # A flow closed because another window of the same customer completed first is the same
        # decision walked twice, not another customer in the funnel (and never a save).
        CancellationFlow.outcome.is_distinct_from(FlowOutcome.SUPERSEDED),
    ]
    if price:
        conditions.append(
            CancellationFlow.subscription_id.in_(
                select(SubscriptionItem.subscription_id).where(SubscriptionItem.price_id == price)
            )
        )
    accepted = CancellationFlow.offer_response == OfferResponse.ACCEPTED

    def saved(days: int) -> ColumnElement[bool]:
        horizon = CancellationFlow.offer_responded_at + days * DAY
        return and_(
            accepted,
            horizon <= now,
            or_(Subscription.canceled_at.is_(None), Subscription.canceled_at > horizon),
        )

    def count_if(condition: ColumnElement[bool]) -> Any:
        return func.sum(case((condition, 1), else_=0))

    offer_type = CancellationFlow.offer["type"].as_string()
    rows = session.execute(
        select(
            CancellationFlow.feedback,
            offer_type,
            CancellationFlow.currency,
            func.count(),
            count_if(CancellationFlow.reason_at.is_not(None)),
            count_if(CancellationFlow.offer_shown_at.is_not(None)),
            count_if(accepted),
            *(count_if(saved(days)) for days in SAVE_HORIZONS),
            func.sum(case((saved(30), CancellationFlow.mrr), else_=0)),
        )
        .join(Subscription, Subscription.id == CancellationFlow.subscription_id)
        .where(*conditions)
        .group_by(CancellationFlow.feedback, offer_type, CancellationFlow.currency)
    ).all()
    totals: dict[str, int] = defaultdict(int)
    by_offer: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_reason: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for feedback, kind, currency, started, reasons, shown, took, s30, s60, s90, saved_mrr in rows:
        values = {
            "flows_started": started,
            "reasons_given": reasons,
            "offers_shown": shown,
            "offers_accepted": took,
            "saved_30d": s30,
            "saved_60d": s60,
            "saved_90d": s90,
        }
        mrr = convert(int(saved_mrr or 0), currency or convert.reporting)
        for name, value in values.items():
            totals[name] += int(value or 0)
            if kind:
                by_offer[kind][name] += int(value or 0)
            by_reason[feedback or UNSPECIFIED][name] += int(value or 0)
        totals["saved_mrr"] += mrr
        if kind:
            by_offer[kind]["saved_mrr"] += mrr
        by_reason[feedback or UNSPECIFIED]["saved_mrr"] += mrr
    result: dict[str, Any] = {
        name: totals.get(name, 0)
        for name in (
            "flows_started",
            "reasons_given",
            "offers_shown",
            "offers_accepted",
            "saved_30d",
            "saved_60d",
            "saved_90d",
            "saved_mrr",
        )
    }
    result["by_offer"] = [{"offer": kind, **dict(values)} for kind, values in sorted(by_offer.items())]
    result["by_reason"] = [{"feedback": key, **dict(values)} for key, values in sorted(by_reason.items())]
    return result


def cancellations_report(
    session: Session,
    *,
    start: int,
    end: int,
    interval: str,
    price: str | None,
    now: int,
    convert: Converter,
) -> dict[str, Any]:
    """The `insights.cancellations` object for [start, end), compared with the period just before."""
    # Two passes over the period (the figures that need the day, and the others) and one over
    # the previous period: each pass is one GROUP BY over the daily rollup.
    by_day = totals(session, start=start, end=end, price=price, by=("day", "reason", "feedback", "currency"))
    by_kind = totals(
        session, start=start, end=end, price=price, by=("price_id", "tenure_bucket", "reason", "currency")
    )
    current = _by_feedback(by_day, convert)
    previous = _by_feedback(
        totals(
            session,
            start=start - (end - start),
            end=start,
            price=price,
            by=("reason", "feedback", "currency"),
        ),
        convert,
    )
    total = sum(count for count, _ in current.values())
    previous_total = sum(count for count, _ in previous.values())
    ranked = sorted(current.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    by_feedback = [
        {
            "feedback": feedback,
            "count": count,
            "share": round(count / total, 4) if total else 0.0,
            "mrr_lost": mrr,
            "previous_count": previous.get(feedback, (0, 0))[0],
            "change": count - previous.get(feedback, (0, 0))[0],
        }
        for feedback, (count, mrr) in ranked
    ]

    buckets: dict[int, dict[str, int]] = {s: defaultdict(int) for s in period_starts(start, end, interval)}
    for (day, reason, feedback, _), (count, _) in by_day.items():
        bucket = buckets.setdefault(_period_start(day, interval), defaultdict(int))
        bucket[category(reason=reason, feedback=feedback)] += count
    prices: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    tenure_counts: dict[str, int] = defaultdict(int)
    involuntary = 0
    for (price_id, bucket, reason, currency), (count, mrr) in by_kind.items():
        prices[price_id or None][0] += count
        prices[price_id or None][1] += convert(mrr, currency)
        tenure_counts[bucket] += count
        involuntary += count if reason in INVOLUNTARY else 0
    by_period = [
        {"start": s, "count": sum(values.values()), "by_feedback": dict(sorted(values.items()))}
        for s, values in sorted(buckets.items())
    ]
    by_price = [
        {"price": key, "count": value[0], "mrr_lost": value[1]}
        for key, value in sorted(prices.items(), key=lambda item: (-item[1][0], str(item[0])))
    ]
    by_tenure = [{"bucket": name, "count": tenure_counts.get(name, 0)} for name, _, _ in TENURE_BUCKETS]
    return {
        "object": "insights.cancellations",
        "period": {"start": start, "end": end, "interval": interval},
        "price": price,
        "currency": convert.reporting,
        "total": total,
        "mrr_lost": sum(mrr for _, mrr in current.values()),
        "previous": {"start": start - (end - start), "end": start, "total": previous_total},
        "by_feedback": by_feedback,
        "by_period": by_period,
        "by_price": by_price,
        "by_tenure": by_tenure,
        "voluntary": total - involuntary,
        "involuntary": involuntary,
        "retention": _retention(session, start, end, price, now=now, convert=convert),
        "unconverted_currencies": sorted(convert.unconverted),
    }
