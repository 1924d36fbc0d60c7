"""The win-back page of the insights: pick canceled customers, export them, send them a campaign, and
see what each campaign brought back (analysts read and export; sending needs `operate`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenure.api.errors import TenureError
from tenure.coupons.models import PromotionCode, promotion_code_is_usable
from tenure.dashboard.actions import record_action
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, Operator, Posted, Reader, StaffVisit
from tenure.ids import new_id
from tenure.insights import winback
from tenure.insights.pages import parse_day
from tenure.notifications.compose import load_brand
from tenure.notifications.models import EmailCampaign, MessageStatus
from tenure.notifications.schemas import CAMPAIGN_LOCALES, SEGMENT_FEEDBACK, SegmentParams
from tenure.prices.models import Price
from tenure.web.csv_export import csv_response
from tenure.web.i18n import format_money

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PATH = "/dashboard/insights/winback"
DAY = 86_400
DEFAULT_DAYS = 90
SHOWN_ROWS = 100
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "id": "Indonesian"}
# The form's token becomes the campaign's id: a second submission of the same form finds it taken.
FORM_TOKEN = re.compile(r"ecamp_[A-Za-z0-9]{24}")
TEXT_FIELDS = ("subject", "body", "button")


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).date().isoformat()


@dataclass
class Choice:
    """The segment picked on the page: canceled between two UTC days (both included), some reasons
    and some plans (none ticked: all)."""

    start: int
    end: int  # exclusive: the day after `to`
    reasons: list[str]
    plans: list[str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def last_day(self) -> int:
        return self.end - DAY

    def segment(self) -> SegmentParams:
        return winback.segment_for(start=self.start, end=self.end, reasons=self.reasons, prices=self.plans)

    def query(self) -> str:
        """The choice as explicit dates, so a link or a form posted later names the same customers."""
        pairs = [("from", _iso(self.start)), ("to", _iso(self.last_day))]
        pairs += [("reason", code) for code in self.reasons] + [("plan", price) for price in self.plans]
        return urlencode(pairs)


def read_choice(request: Request, visit: StaffVisit, prices: list[Price]) -> Choice:
    query = request.query_params
    today = visit.now // DAY * DAY
    errors: dict[str, str] = {}
    first, last = today - (DEFAULT_DAYS - 1) * DAY, today
    if query.get("from"):
        parsed = parse_day(query["from"])
        if parsed is None:
            errors["from"] = "Type a date such as 2026-01-31."
        else:
            first = parsed
    if query.get("to"):
        parsed = parse_day(query["to"])
        if parsed is None:
            errors["to"] = "Type a date such as 2026-01-31."
        else:
            last = parsed
    if "from" not in errors and "to" not in errors and first > last:
        errors["to"] = "The last day comes before the first."
    reasons = list(dict.fromkeys(query.getlist("reason")))
    if any(code not in SEGMENT_FEEDBACK for code in reasons):
        errors["reason"] = "Choose reasons from the list."
    plans = list(dict.fromkeys(query.getlist("plan")))
    known = {price.id for price in prices}
    if any(price not in known for price in plans):
        errors["plan"] = "Choose plans from the list."
    return Choice(start=first, end=last + DAY, reasons=reasons, plans=plans, errors=errors)


def _prices(visit: StaffVisit) -> list[Price]:
    return list(visit.db.scalars(select(Price).where(Price.type == "recurring").order_by(Price.pk)))


def _price_names(prices: list[Price]) -> dict[str, str]:
    """What the operator calls each plan: its nickname or lookup key, else its amount."""
    names = {}
    for p in prices:
        every = p.recurring_interval or ""
        if (p.recurring_interval_count or 1) > 1:
            every = f"{p.recurring_interval_count} {every}s"
        amount = f"{format_money(p.unit_amount, p.currency, 'en')} / {every}"
        names[p.id] = f"{p.nickname or p.lookup_key} ({amount})" if p.nickname or p.lookup_key else amount
    return names


def _usable_codes(visit: StaffVisit) -> list[PromotionCode]:
    codes = visit.db.scalars(
        select(PromotionCode)
        .where(PromotionCode.active.is_(True), PromotionCode.customer_id.is_(None))
        .order_by(PromotionCode.pk.desc())
        .limit(100)
    )
    return [
        code
        for code in codes
        if promotion_code_is_usable(code, visit.now) and not code.restrictions_first_time_transaction
    ]


def describe_segment(segment: dict[str, Any], price_names: dict[str, str]) -> str:
    """A campaign's segment in words, for the campaigns table."""
    if segment.get("type") != "canceled":  # made through the API to another kind of segment
        kind = str(segment.get("type"))
        return f"{len(segment.get('customers') or [])} listed customers" if kind == "customers" else kind
    after, before = segment.get("canceled_after"), segment.get("canceled_before")
    # `canceled_before` is exclusive: the last day is the one of the second before it.
    first = _iso(int(after)) if after is not None else "any time"
    last = _iso(int(before) - 1) if before is not None else "now"
    parts = [f"canceled {first} – {last}"]
    reasons = segment.get("feedback") or []
    parts.append(", ".join(winback.reason_label(code) for code in reasons) if reasons else "all reasons")
    plans = segment.get("prices") or []
    parts.append(", ".join(price_names.get(p, p) for p in plans) if plans else "all plans")
    return " · ".join(parts)


def _page(
    request: Request,
    visit: StaffVisit,
    choice: Choice,
    prices: list[Price],
    *,
    posted: Posted | None = None,
    send_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    names = _price_names(prices)
    size, rows = None, []
    if not choice.errors:
        segment = choice.segment()
        size = winback.segment_size(visit.db, segment)
        rows = winback.segment_rows(visit.db, segment)[:SHOWN_ROWS]
    sent = visit.db.scalar(
        select(EmailCampaign).where(EmailCampaign.id == request.query_params.get("sent", ""))
    )
    brand = load_brand(visit.db, visit.runtime.settings).name
    return page(
        request,
        visit,
        "dashboard/insights_winback.html",
        {
            "choice": choice,
            "query": choice.query(),
            "size": size,
            "rows": rows,
            "shown_rows": SHOWN_ROWS,
            "prices": prices,
            "price_names": names,
            "reasons": list(SEGMENT_FEEDBACK),
            "reason_label": winback.reason_label,
            "languages": LANGUAGES,
            "locales": CAMPAIGN_LOCALES,
            "iso": winback.iso_moment,
            "can_send": visit.can("operate"),
            "form_token": (posted.get("campaign") if posted else "") or new_id("ecamp"),
            "defaults": winback.default_content(brand),
            "posted": posted,
            "send_errors": send_errors or {},
            "codes": _usable_codes(visit),
            "sent": sent,
            "campaigns": winback.campaign_results(visit.db),
            "describe": lambda segment: describe_segment(segment, names),
            "period": winback.period_reactivations(visit.db, start=choice.start, end=choice.end),
            "attribution_days": winback.ATTRIBUTION_DAYS,
            "statuses": MessageStatus,
        },
        section="insights",
        status_code=status_code,
    )


@router.get(PATH)
def winback_page(request: Request, visit: Reader) -> Response:
    prices = _prices(visit)
    choice = read_choice(request, visit, prices)
    return _page(request, visit, choice, prices, status_code=400 if choice.errors else 200)


@router.get(PATH + ".csv")
def winbackcsv_response(request: Request, visit: Reader) -> Response:
    """Every customer of the segment (not only the rows shown on the page)."""
    prices = _prices(visit)
    choice = read_choice(request, visit, prices)
    if choice.errors:
        return _page(request, visit, choice, prices, status_code=400)
    rows = winback.segment_rows(visit.db, choice.segment())
    return csv_response(winback.csv_rows(rows), "win-back-segment")


def _content(form: Posted) -> dict[str, dict[str, str]]:
    """The texts typed per language; buttons only go with a link (the email has nowhere to point
    them otherwise), and a language left blank is sent in English."""
    with_link = bool(form.get("url").strip())
    content: dict[str, dict[str, str]] = {}
    for locale in CAMPAIGN_LOCALES:
        texts = {name: form.get(f"{name}_{locale}").strip() for name in TEXT_FIELDS}
        if not with_link:
            texts.pop("button")
        kept = {name: text for name, text in texts.items() if text}
        if kept:
            content[locale] = kept
    return content


PARAM_FIELDS = {"name": "name", "url": "url", "promotion_code": "promotion_code", "segment": "segment"}


def _field_of(param: str | None) -> str:
    """The form field an API parameter came from (`content[fr][subject]` -> `subject_fr`)."""
    if not param:
        return "form"
    found = re.fullmatch(r"content\[(\w+)\]\[(\w+)\]", param)
    if found:
        return f"{found[2]}_{found[1]}"
    if param == "content":
        return "subject_en"
    return PARAM_FIELDS.get(param.split("[")[0], "form")


def _sent(choice: Choice, campaign_id: str) -> Response:
    return RedirectResponse(f"{PATH}?{choice.query()}&sent={campaign_id}", status_code=303)


@router.post(PATH + "/send")
def send(request: Request, visit: Operator, form: Form) -> Response:
    """Queue the campaign once per form: the form's token is the campaign's id."""
    visit.check_csrf(form)
    prices = _prices(visit)
    choice = read_choice(request, visit, prices)
    token = form.get("campaign")
    if choice.errors:
        return _page(request, visit, choice, prices, posted=form, status_code=400)
    if not FORM_TOKEN.fullmatch(token):
        errors = {"form": "This form is out of date: reload the page and send again."}
        return _page(request, visit, choice, prices, posted=form, send_errors=errors, status_code=400)
    if visit.db.scalar(select(EmailCampaign.pk).where(EmailCampaign.id == token)) is not None:
        return _sent(choice, token)  # submitted twice: the first one did the sending
    try:
        campaign = winback.send_campaign(
            visit.db,
            campaign_id=token,
            name=form.get("name").strip() or None,
            segment=choice.segment(),
            content=_content(form),
            url=form.get("url").strip() or None,
            promotion_code=form.get("promotion_code").strip() or None,
            now=visit.now,
        )
        record_action(
            visit.db,
            visit.staff,
            action="campaign.send",
            object_id=campaign.id,
            at=visit.now,
            now=visit.now,
            details={"segment": dict(campaign.segment), "recipients": campaign.recipients},
        )
        visit.db.commit()
    except TenureError as exc:
        visit.db.rollback()
        errors = {_field_of(exc.param): exc.message}
        return _page(request, visit, choice, prices, posted=form, send_errors=errors, status_code=400)
    except IntegrityError:
        visit.db.rollback()
        if visit.db.scalar(select(EmailCampaign.pk).where(EmailCampaign.id == token)) is None:
            raise
        # The same form sent at the same moment by another request, which won: nothing more to do.
    return _sent(choice, token)
