"""Win-back: canceled customers picked by period × reasons × plans, a campaign to them, and the
reactivations each campaign brought (definitions and the attribution rule in docs/insights.md).

The segment is the notifications' own `canceled` segment (`SegmentParams`, `segment_query`), so the
page, its CSV and `POST /v1/email_campaigns` always agree on who is in it. A reactivation is what
checkout records (`checkout_sessions.reactivation_of`); it is credited to the last win-back email
actually sent to that customer in the 30 days before it (last touch).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, aliased

from tenure.api.errors import InvalidRequest
from tenure.api.params import validate
from tenure.checkout.models import CheckoutSession, CheckoutStatus
from tenure.coupons.models import PromotionCode
from tenure.coupons.service import find_active_code
from tenure.customers.models import Customer
from tenure.insights import categories
from tenure.insights.categories import category_of
from tenure.insights.models import CancellationRecord
from tenure.notifications.campaigns import canceled_match, create_campaign, segment_query
from tenure.notifications.models import EmailCampaign, Kind, MessageStatus, OutboxMessage
from tenure.notifications.schemas import CAMPAIGN_LOCALES, CampaignCreate, SegmentParams
from tenure.subscriptions.models import Subscription
from tenure.web.i18n import negotiate, translations

DAY = 86_400
ATTRIBUTION_DAYS = 30
ATTRIBUTION_SECONDS = ATTRIBUTION_DAYS * DAY
CSV_HEADER = [
    "customer",
    "email",
    "name",
    "locale",
    "unsubscribed",
    "subscription",
    "canceled_at",
    "feedback",
    "reason",
    "plan",
    "mrr_lost_minor",
    "currency",
]


def _(message: str) -> str:
    """Marks a customer-facing default for extraction; translated from the `winback` catalogs."""
    return message


# The campaign text the page starts from, in each customer's language; the operator edits it freely.
DEFAULT_SUBJECT = _("Come back to %(brand)s")
DEFAULT_BODY = (
    _("It has been a while since you left %(brand)s, and we have kept improving it since."),
    _("We would be glad to welcome you back: subscribing again takes only a minute."),
)
DEFAULT_BUTTON = _("Subscribe again")


def segment_for(
    *, start: int, end: int, reasons: list[str] | None = None, prices: list[str] | None = None
) -> SegmentParams:
    """The `canceled` segment for canceled_at in [start, end), some reasons and plans (none: all)."""
    return validate(
        SegmentParams,
        {
            "type": "canceled",
            "canceled_after": start,
            "canceled_before": end,
            "feedback": list(reasons or []) or None,
            "prices": list(prices or []) or None,
        },
    )


def feedback_code(details: dict[str, Any] | None) -> str:
    """The insights' category of a cancellation (feedback, else involuntary reason, else none)."""
    return category_of(details)


def reason_label(code: str) -> str:
    return categories.label(code)


# --- the segment -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSize:
    customers: int
    unsubscribed: int  # in the segment, but a campaign only records them as suppressed


def segment_size(session: Session, segment: SegmentParams) -> SegmentSize:
    found = segment_query(segment).subquery()
    customers, unsubscribed = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((found.c.marketing_opt_out.is_(True), 1), else_=0)), 0),
        ).select_from(found)
    ).one()
    return SegmentSize(customers=int(customers), unsubscribed=int(unsubscribed))


@dataclass(frozen=True)
class SegmentRow:
    """One customer of the segment, with their most recent cancellation that matches it."""

    customer_id: str
    email: str
    name: str | None
    locale: str  # the language their campaign email is composed in
    unsubscribed: bool
    subscription_id: str
    canceled_at: int
    feedback: str
    plans: tuple[str, ...]
    mrr_lost: int | None  # at canceled_at, in minor units of `currency` (None: not recorded)
    currency: str


def segment_rows(session: Session, segment: SegmentParams) -> list[SegmentRow]:
    """Every customer of the segment, most recent cancellation first."""
    stmt = (
        segment_query(segment)
        .join(Subscription, Subscription.customer_id == Customer.id)
        .where(*canceled_match(segment))
        .outerjoin(CancellationRecord, CancellationRecord.subscription_id == Subscription.id)
        .add_columns(Subscription, CancellationRecord.mrr)
        .order_by(Customer.pk, Subscription.canceled_at.desc(), Subscription.pk.desc())
    )
    rows: dict[str, SegmentRow] = {}
    for customer, subscription, mrr in session.execute(stmt):
        if customer.id in rows:  # an older matching cancellation of the same customer
            continue
        rows[customer.id] = SegmentRow(
            customer_id=customer.id,
            email=str(customer.email),
            name=customer.name,
            locale=negotiate(
                session_locale=None, preferred=list(customer.preferred_locales or []), accept_language=None
            ),
            unsubscribed=bool(customer.marketing_opt_out),
            subscription_id=subscription.id,
            canceled_at=int(subscription.canceled_at or 0),
            feedback=feedback_code(subscription.cancellation_details),
            plans=tuple(item.price_id for item in subscription.items),
            mrr_lost=None if mrr is None else int(mrr),
            currency=subscription.currency,
        )
    return sorted(rows.values(), key=lambda row: (-row.canceled_at, row.customer_id))


def iso_moment(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_rows(rows: list[SegmentRow]) -> list[list[Any]]:
    """The segment as CSV: a header, then one line per customer."""
    lines: list[list[Any]] = [list(CSV_HEADER)]
    for row in rows:
        lines.append(
            [
                row.customer_id,
                row.email,
                row.name or "",
                row.locale,
                "yes" if row.unsubscribed else "no",
                row.subscription_id,
                iso_moment(row.canceled_at),
                row.feedback,
                reason_label(row.feedback),
                " ".join(row.plans),
                "" if row.mrr_lost is None else row.mrr_lost,
                row.currency,
            ]
        )
    return lines


# --- the campaign ----------------------------------------------------------------------------------


def default_content(brand: str) -> dict[str, dict[str, str]]:
    """The default win-back email in each campaign language, ready for the operator to edit."""
    content: dict[str, dict[str, str]] = {}
    for locale in CAMPAIGN_LOCALES:
        gettext = translations(locale).gettext
        values = {"brand": brand}
        content[locale] = {
            "subject": str(gettext(DEFAULT_SUBJECT)) % values,
            "body": "\n\n".join(str(gettext(paragraph)) % values for paragraph in DEFAULT_BODY),
            "button": str(gettext(DEFAULT_BUTTON)),
        }
    return content


def offer_code(session: Session, typed: str, *, now: int) -> PromotionCode:
    """The promotion code an operator typed, if every customer of a win-back campaign could use it
    at checkout now (raises `InvalidRequest` naming `promotion_code` otherwise)."""
    code = find_active_code(session, typed.strip(), now) if typed.strip() else None
    if code is None:
        raise InvalidRequest(
            f"No usable promotion code {typed.strip()!r}: it does not exist, is inactive, has expired "
            "or is used up.",
            param="promotion_code",
        )
    if code.customer_id is not None:
        raise InvalidRequest(
            f"The promotion code {code.code} is reserved for one customer: choose a code anyone can use.",
            param="promotion_code",
        )
    if code.restrictions_first_time_transaction:
        raise InvalidRequest(
            f"The promotion code {code.code} is for first-time customers only: returning customers "
            "cannot use it.",
            param="promotion_code",
        )
    return code


def send_campaign(
    session: Session,
    *,
    campaign_id: str,
    name: str | None,
    segment: SegmentParams,
    content: dict[str, dict[str, str]],
    url: str | None,
    promotion_code: str | None,
    now: int,
) -> EmailCampaign:
    """Queue a win-back campaign to the segment with an offer: a promotion code (as typed by the
    operator), a resubscribe link, or both. Nothing is queued when anything is wrong."""
    if not url and not promotion_code:
        raise InvalidRequest(
            "Offer something: a promotion code, a resubscribe link, or both.", param="promotion_code"
        )
    code = offer_code(session, promotion_code, now=now) if promotion_code else None
    data: dict[str, Any] = {
        "kind": Kind.WIN_BACK,
        "name": name or None,
        "segment": segment.model_dump(mode="json", exclude_none=True),
        "content": content,
        "url": url or None,
        "promotion_code": code.id if code else None,
    }
    params = validate(CampaignCreate, data)
    if segment_size(session, segment).customers == 0:
        raise InvalidRequest("Nobody is in this segment: there is no one to send it to.", param="segment")
    return create_campaign(session, params, now=now, campaign_id=campaign_id)


# --- reactivations and attribution -----------------------------------------------------------------


@dataclass(frozen=True)
class Reactivation:
    checkout_session: str
    customer_id: str
    subscription_id: str | None  # the new subscription
    reactivated: str  # the canceled subscription the customer had
    completed_at: int
    feedback: str  # of the reactivated subscription
    campaign_id: str | None  # the campaign credited (last touch), if any


def _last_touch() -> Any:
    """The win-back campaign whose email was sent last to the checkout's customer, at most 30 days
    before the checkout completed (a correlated scalar subquery, so one query serves any list)."""
    return (
        select(OutboxMessage.campaign_id)
        .where(
            OutboxMessage.customer_id == CheckoutSession.customer_id,
            OutboxMessage.kind == Kind.WIN_BACK,
            OutboxMessage.campaign_id.is_not(None),
            OutboxMessage.status == MessageStatus.SENT,
            OutboxMessage.sent_at <= CheckoutSession.completed_at,
            OutboxMessage.sent_at >= CheckoutSession.completed_at - ATTRIBUTION_SECONDS,
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.pk.desc())
        .limit(1)
        .correlate(CheckoutSession)
        .scalar_subquery()
    )


def reactivations(
    session: Session, *, start: int | None = None, end: int | None = None
) -> list[Reactivation]:
    """Reactivations completed in [start, end), oldest first, each with its credited campaign."""
    previous = aliased(Subscription)
    conditions: list[ColumnElement[bool]] = [
        CheckoutSession.status == CheckoutStatus.COMPLETE,
        CheckoutSession.reactivation_of.is_not(None),
        CheckoutSession.completed_at.is_not(None),
        CheckoutSession.customer_id.is_not(None),
    ]
    if start is not None:
        conditions.append(CheckoutSession.completed_at >= start)
    if end is not None:
        conditions.append(CheckoutSession.completed_at < end)
    stmt = (
        select(
            CheckoutSession.id,
            CheckoutSession.customer_id,
            CheckoutSession.subscription_id,
            CheckoutSession.reactivation_of,
            CheckoutSession.completed_at,
            previous.cancellation_details,
            _last_touch().label("campaign_id"),
        )
        .outerjoin(previous, previous.id == CheckoutSession.reactivation_of)
        .where(*conditions)
        .order_by(CheckoutSession.completed_at, CheckoutSession.pk)
    )
    return [
        Reactivation(
            checkout_session=row.id,
            customer_id=str(row.customer_id),
            subscription_id=row.subscription_id,
            reactivated=str(row.reactivation_of),
            completed_at=int(row.completed_at),
            feedback=feedback_code(row.cancellation_details),
            campaign_id=row.campaign_id,
        )
        for row in session.execute(stmt)
    ]


@dataclass(frozen=True)
class ReactivationSummary:
    total: int
    after_campaign: int  # credited to a win-back campaign
    by_reason: dict[str, int]  # feedback of the reactivated subscription -> count


def summarize(found: list[Reactivation]) -> ReactivationSummary:
    by_reason = Counter(r.feedback for r in found)
    return ReactivationSummary(
        total=len(found),
        after_campaign=sum(1 for r in found if r.campaign_id is not None),
        by_reason=dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))),
    )


def period_reactivations(session: Session, *, start: int, end: int) -> ReactivationSummary:
    """Reactivations completed in [start, end): the insights period's figure."""
    return summarize(reactivations(session, start=start, end=end))


@dataclass
class CampaignResult:
    campaign: EmailCampaign
    statuses: dict[str, int] = field(default_factory=dict)  # outbox status -> emails
    reactivations: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def emails(self, status: str) -> int:
        return self.statuses.get(status, 0)


def campaign_results(session: Session, *, limit: int = 50) -> list[CampaignResult]:
    """The latest win-back campaigns, newest first: their emails by status and the reactivations
    credited to each, by the reason of the subscription that was reactivated."""
    campaigns = list(
        session.scalars(
            select(EmailCampaign)
            .where(EmailCampaign.kind == Kind.WIN_BACK)
            .order_by(EmailCampaign.pk.desc())
            .limit(limit)
        )
    )
    if not campaigns:
        return []
    results = {c.id: CampaignResult(campaign=c) for c in campaigns}
    counted = session.execute(
        select(OutboxMessage.campaign_id, OutboxMessage.status, func.count())
        .where(OutboxMessage.campaign_id.in_(list(results)))
        .group_by(OutboxMessage.campaign_id, OutboxMessage.status)
    )
    for campaign_id, status, count in counted:
        results[str(campaign_id)].statuses[str(status)] = int(count)
    # No email of these campaigns was sent before the oldest of them was created.
    for found in reactivations(session, start=min(c.created for c in campaigns)):
        result = results.get(found.campaign_id or "")
        if result is not None:
            result.reactivations += 1
            result.by_reason[found.feedback] = result.by_reason.get(found.feedback, 0) + 1
    for result in results.values():
        result.by_reason = dict(sorted(result.by_reason.items(), key=lambda item: (-item[1], item[0])))
    return list(results.values())
