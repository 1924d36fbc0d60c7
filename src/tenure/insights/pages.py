"""The insights and SQL console pages of the dashboard (analysts and admins)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from tenure.api.errors import TenureError
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, Reader, StaffVisit
from tenure.insights import categories, charts
from tenure.insights.comments import CommentFilter, comments
from tenure.insights.currency import Converter, parse_rates
from tenure.insights.metrics import cancellations_report
from tenure.insights.sql_console import ConsoleLimits, run_query
from tenure.insights.templates import templates_for
from tenure.insights.winback import period_reactivations
from tenure.prices.models import Price
from tenure.retention.reasons import STANDARD_REASONS
from tenure.web.csv_export import csv_response

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
DAY = 86_400
PERIODS = {"30d": 30, "90d": 90, "12m": 365}
TENURE_LABELS = {
    "lt_1m": "< 1 month",
    "1_3m": "1–3 months",
    "3_6m": "3–6 months",
    "6_12m": "6–12 months",
    "gt_12m": "> 12 months",
}
SECTIONS = ("by_feedback", "by_period", "by_price", "by_tenure", "retention", "comments")


def reason_label(code: str | None) -> str:
    return categories.label(code)


def parse_day(text: str | None) -> int | None:
    """Midnight UTC of an ISO date from a form (None when empty or not a date)."""
    if not text:
        return None
    try:
        return int(datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC).timestamp())
    except ValueError:
        return None


def window(request: Request, now: int) -> dict[str, Any]:
    """The period picker's choice: a preset (30d, 90d, 12m) or custom dates, both days included
    (the form shows the last day; the report's `end` is the midnight after it)."""
    query = request.query_params
    start, last_day = parse_day(query.get("start")), parse_day(query.get("end"))
    end = last_day + DAY if last_day is not None else None
    preset = query.get("period") or "30d"
    if start is not None and end is not None and start < end:
        preset = "custom"
    else:
        days = PERIODS.get(preset, 30)
        preset = preset if preset in PERIODS else "30d"
        end = (now // DAY + 1) * DAY
        start = end - days * DAY
    interval = (
        query.get("interval")
        if query.get("interval") in ("week", "month")
        else ("week" if end - start <= 120 * DAY else "month")
    )
    return {
        "start": start,
        "end": end,
        "preset": preset,
        "interval": interval,
        "price": query.get("price") or None,
        "end_inclusive": end - DAY,
    }


def _report(visit: StaffVisit, chosen: dict[str, Any]) -> dict[str, Any]:
    settings = visit.runtime.settings
    convert = Converter(settings.reporting_currency, parse_rates(settings.fx_rates))
    return cancellations_report(
        visit.db,
        start=chosen["start"],
        end=chosen["end"],
        interval=chosen["interval"],
        price=chosen["price"],
        now=visit.now,
        convert=convert,
    )


def _period_label(interval: str) -> Any:
    def label(timestamp: int) -> str:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
        return moment.strftime("%d %b") if interval == "week" else moment.strftime("%b %Y")

    return label


def _comment_filter(request: Request, chosen: dict[str, Any]) -> CommentFilter:
    query = request.query_params
    return CommentFilter(
        start=chosen["start"],
        end=chosen["end"],
        feedback=query.get("reason") or None,
        price=chosen["price"],
        locale=query.get("language") or None,
        search=(query.get("q") or "").strip()[:200] or None,
    )


@router.get("/dashboard/insights")
def insights(request: Request, visit: Reader) -> Response:
    chosen = window(request, visit.now)
    report = _report(visit, chosen)
    label = _period_label(chosen["interval"])
    prices = list(visit.db.scalars(select(Price).order_by(Price.pk)))
    price_names = {p.id: p.nickname or p.lookup_key or p.id for p in prices}
    filters = _comment_filter(request, chosen)
    return page(
        request,
        visit,
        "dashboard/insights.html",
        {
            "r": report,
            "w": chosen,
            "trend": charts.stacked_periods(report["by_period"], label),
            "reasons_chart": charts.horizontal_bars(
                [
                    (row["feedback"], row["count"], reason_label(row["feedback"]))
                    for row in report["by_feedback"]
                ]
            ),
            "tenure_chart": charts.horizontal_bars(
                [("tenure", row["count"], TENURE_LABELS[row["bucket"]]) for row in report["by_tenure"]]
            ),
            "period_label": label,
            "reason_label": reason_label,
            "category": categories.category,
            "tenure_labels": TENURE_LABELS,
            "palette": charts.PALETTE,
            "prices": prices,
            "price_names": price_names,
            "comments": comments(visit.db, filters),
            "filters": filters,
            "reasons": list(categories.CATEGORIES),
            "comment_reasons": list(STANDARD_REASONS),
            "query": request.url.query,
            "reactivations": period_reactivations(visit.db, start=chosen["start"], end=chosen["end"]),
        },
        section="insights",
    )


@router.get("/dashboard/insights.csv")
def insightscsv_response(request: Request, visit: Reader) -> Response:
    """Each chart's numbers (and the comments) as CSV."""
    chosen = window(request, visit.now)
    section = request.query_params.get("section") or "by_feedback"
    if section not in SECTIONS:
        section = "by_feedback"
    if section == "comments":
        rows: list[list[Any]] = [
            ["canceled_at", "subscription", "customer_email", "reason", "language", "plan", "comment"]
        ]
        for record, email in comments(visit.db, _comment_filter(request, chosen), limit=10_000):
            rows.append(
                [
                    record.canceled_at,
                    record.subscription_id,
                    email,
                    record.feedback,
                    record.locale,
                    record.price_id,
                    record.comment,
                ]
            )
        return csv_response(rows, "cancellation-comments")
    report = _report(visit, chosen)
    currency = report["currency"]
    if section == "by_feedback":
        rows = [
            ["reason", "label", "count", "share", f"mrr_lost_{currency}_minor", "previous_count", "change"]
        ]
        rows += [
            [
                r["feedback"],
                reason_label(r["feedback"]),
                r["count"],
                r["share"],
                r["mrr_lost"],
                r["previous_count"],
                r["change"],
            ]
            for r in report["by_feedback"]
        ]
    elif section == "by_period":
        keys = list(categories.CATEGORIES)
        rows = [["period_start", "total", *keys]]
        rows += [
            [
                datetime.fromtimestamp(r["start"], tz=UTC).date().isoformat(),
                r["count"],
                *[r["by_feedback"].get(k, 0) for k in keys],
            ]
            for r in report["by_period"]
        ]
    elif section == "by_price":
        rows = [["price", "count", f"mrr_lost_{currency}_minor"]]
        rows += [[r["price"], r["count"], r["mrr_lost"]] for r in report["by_price"]]
    elif section == "by_tenure":
        rows = [["tenure", "count"]] + [[TENURE_LABELS[r["bucket"]], r["count"]] for r in report["by_tenure"]]
    else:
        retention = report["retention"]
        names = [
            "flows_started",
            "reasons_given",
            "offers_shown",
            "offers_accepted",
            "saved_30d",
            "saved_60d",
            "saved_90d",
            "saved_mrr",
        ]
        rows = [["scope", "key", *names], ["all", "", *[retention[n] for n in names]]]
        rows += [["offer", r["offer"], *[r.get(n, 0) for n in names]] for r in retention["by_offer"]]
        rows += [["reason", r["feedback"], *[r.get(n, 0) for n in names]] for r in retention["by_reason"]]
    return csv_response(rows, f"cancellations-{section}")


@router.get("/dashboard/sql")
def sql_page(request: Request, visit: Reader) -> Response:
    templates = templates_for(visit.runtime.database_kind)
    chosen = request.query_params.get("template")
    query = templates[chosen][1] if chosen in templates else ""
    return page(
        request,
        visit,
        "dashboard/sql.html",
        {
            "templates": templates,
            "query": query,
            "result": None,
            "error": None,
            "limits": ConsoleLimits.of(visit.runtime.settings),
        },
        section="sql",
    )


@router.post("/dashboard/sql")
def sql_run(request: Request, visit: Reader, form: Form) -> Response:
    visit.check_csrf(form)
    query = form.get("query")
    result, error, status = None, None, 200
    try:
        result = run_query(visit.runtime, query)
    except TenureError as exc:  # refused, too large, timed out, or the console is busy (429)
        error, status = exc.message, exc.status_code
    if form.get("format") == "csv" and result is not None:
        return csv_response([result.columns, *result.rows], "query")
    return page(
        request,
        visit,
        "dashboard/sql.html",
        {
            "templates": templates_for(visit.runtime.database_kind),
            "query": query,
            "result": result,
            "error": error,
            "limits": ConsoleLimits.of(visit.runtime.settings),
        },
        section="sql",
        status_code=status,
    )
