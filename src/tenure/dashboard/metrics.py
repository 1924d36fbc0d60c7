"""The overview's figures: MRR, subscriptions by state, cancellations this month, the save rate.

MRR is the list price per month (yearly ÷ 12, weekly × 52 ÷ 12) of active and past-due
subscriptions, before discounts, per currency. A cancellation counts in the month it was decided
(`canceled_at`), whether it ends at once or at the period's end. The save rate is honest: an
accepted offer counts as a save only if the subscription is still running, and is not scheduled to
cancel, 30 days after the offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tenure import money
from tenure.prices.models import Price
from tenure.retention.models import CancellationFlow, FlowOutcome, OfferResponse
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.periods import DAY, monthly_factor

MRR_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)
SAVE_MATURITY_DAYS = 30
SAVE_WINDOW_DAYS = 90


def month_start(now: int) -> int:
    moment = datetime.fromtimestamp(now, tz=UTC)
    return int(datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class SaveRate:
    offers: int  # offers shown in the window (those at least 30 days old)
    saved: int  # of which accepted, and the subscription still running and not scheduled to cancel

    @property
    def percent(self) -> float | None:
        return None if self.offers == 0 else round(100 * self.saved / self.offers, 1)


@dataclass(frozen=True)
class Overview:
    mrr: list[tuple[str, int]]  # (currency, minor units), biggest first
    by_status: dict[str, int]
    canceled_this_month: int
    scheduled: int
    save_rate: SaveRate
    offers_this_month: int
    accepted_this_month: int
    month_start: int

    @property
    def active(self) -> int:
        return self.by_status.get(SubscriptionStatus.ACTIVE, 0)


def monthly_revenue(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(
            Price.currency,
            Price.unit_amount,
            Price.recurring_interval,
            Price.recurring_interval_count,
            SubscriptionItem.quantity,
        )
        .join(SubscriptionItem, SubscriptionItem.price_id == Price.id)
        .join(Subscription, Subscription.id == SubscriptionItem.subscription_id)
        .where(Subscription.status.in_(MRR_STATUSES), Price.recurring_interval.is_not(None))
    ).all()
    totals: dict[str, Fraction] = {}
    for currency, unit_amount, interval, count, quantity in rows:
        numerator, denominator = monthly_factor(str(interval), count or 1)
        totals[currency] = totals.get(currency, Fraction(0)) + Fraction(
            unit_amount * quantity * numerator, denominator
        )
    return sorted(((c, money.round_minor(t)) for c, t in totals.items()), key=lambda e: (-e[1], e[0]))


# A flow closed because another window of the same customer answered first is no decision of its
# own: like the insights' funnel, the dashboard leaves it out.
COUNTED = CancellationFlow.outcome.is_distinct_from(FlowOutcome.SUPERSEDED)


def save_rate(session: Session, *, now: int) -> SaveRate:
    newest = now - SAVE_MATURITY_DAYS * DAY
    oldest = newest - SAVE_WINDOW_DAYS * DAY
    rows = session.execute(
        select(CancellationFlow.offer_response, Subscription.status, Subscription.canceled_at)
        .join(Subscription, Subscription.id == CancellationFlow.subscription_id)
        .where(
            CancellationFlow.offer_shown_at.is_not(None),
            CancellationFlow.offer_shown_at >= oldest,
            CancellationFlow.offer_shown_at < newest,
            COUNTED,
        )
    ).all()
    saved = sum(
        1
        for response, status, canceled_at in rows
        if response == OfferResponse.ACCEPTED and status not in ENDED and canceled_at is None
    )
    return SaveRate(offers=len(rows), saved=saved)


def overview(session: Session, *, now: int) -> Overview:
    start = month_start(now)
    by_status = {
        str(status): int(count)
        for status, count in session.execute(
            select(Subscription.status, func.count()).group_by(Subscription.status)
        )
    }
    canceled = session.scalar(
        select(func.count()).select_from(Subscription).where(Subscription.canceled_at >= start)
    )
    scheduled = session.scalar(
        select(func.count())
        .select_from(Subscription)
        .where(
            Subscription.status.not_in(ENDED),
            or_(Subscription.cancel_at_period_end.is_(True), Subscription.cancel_at.is_not(None)),
        )
    )
    offers = session.scalar(
        select(func.count())
        .select_from(CancellationFlow)
        .where(CancellationFlow.offer_shown_at >= start, COUNTED)
    )
    accepted = session.scalar(
        select(func.count())
        .select_from(CancellationFlow)
        .where(
            and_(
                CancellationFlow.offer_responded_at >= start,
                CancellationFlow.offer_response == OfferResponse.ACCEPTED,
            )
        )
    )
    return Overview(
        mrr=monthly_revenue(session),
        by_status=by_status,
        canceled_this_month=int(canceled or 0),
        scheduled=int(scheduled or 0),
        save_rate=save_rate(session, now=now),
        offers_this_month=int(offers or 0),
        accepted_this_month=int(accepted or 0),
        month_start=start,
    )
