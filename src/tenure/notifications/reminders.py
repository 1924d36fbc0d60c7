"""Upcoming-renewal reminders: `TENURE_RENEWAL_REMINDER_DAYS` (7) days before the payment, for
yearly plans, and for monthly ones with `TENURE_REMIND_MONTHLY`.

In real time the worker looks at the renewals of the coming days (`current_period_end` is indexed)
that have no reminder yet. On a test clock, a step plans each period's reminder moment, then sends
it when the clock passes it. Either way the outbox key `renewal_reminder:<subscription>:<period end>`
makes it one reminder per period, whatever restarts or replays happen.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String, and_, cast, exists, literal, select
from sqlalchemy.orm import Session

from tenure.config import Settings
from tenure.invoices.preview import upcoming_invoice
from tenure.notifications.models import Kind, MessageStatus, OutboxMessage, RenewalReminderPlan
from tenure.notifications.outbox import queue_email
from tenure.notifications.triggers import plan_name
from tenure.prices.models import Price
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.testclocks.advance import register_step
from tenure.testclocks.models import TestClock

DAY = 86_400
BATCH = 200
# Subscriptions whose reminder moment is planned on a test clock: those that may still renew.
PLANNABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class ReminderPolicy:
    days: int
    monthly: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> ReminderPolicy:
        return cls(days=max(int(settings.renewal_reminder_days), 0), monthly=bool(settings.remind_monthly))

    @property
    def intervals(self) -> tuple[str, ...]:
        return ("year", "month") if self.monthly else ("year",)

    def remind_at(self, subscription: Subscription) -> int | None:
        """The moment of this period's reminder; None when the period is shorter than the notice."""
        if self.days <= 0:
            return None
        moment = subscription.current_period_end - self.days * DAY
        return moment if moment >= subscription.current_period_start else None


def reminder_key(subscription_id: str, period_end: int) -> str:
    return f"renewal_reminder:{subscription_id}:{period_end}"


def _interval(session: Session, subscription: Subscription) -> str | None:
    if not subscription.items:
        return None
    price = session.scalar(select(Price).where(Price.id == subscription.items[0].price_id))
    return price.recurring_interval if price else None


def why_not(session: Session, subscription: Subscription, policy: ReminderPolicy) -> str | None:
    """Why this period gets no reminder, or None when it should get one."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        return f"the subscription is {subscription.status}"
    if subscription.cancel_at_period_end or (
        subscription.cancel_at is not None and subscription.cancel_at <= subscription.current_period_end
    ):
        return "the subscription ends instead of renewing"
    if subscription.pause_collection:
        return "collection is paused"
    if _interval(session, subscription) not in policy.intervals:
        return "no reminders for this billing interval"
    return None


def queue_reminder(
    session: Session, subscription: Subscription, *, policy: ReminderPolicy, now: int, record_skip: bool
) -> None:
    """Queue this period's reminder with the amount after discounts. When none is due, `record_skip`
    writes why in the outbox (so that the worker's scan does not find this renewal again)."""
    key = reminder_key(subscription.id, subscription.current_period_end)
    reason = why_not(session, subscription, policy)
    if reason is not None:
        if not record_skip:
            return
        queue_email(
            session,
            kind=Kind.RENEWAL_REMINDER,
            cause_key=key,
            occurred_at=now,
            customer_id=subscription.customer_id,
            data={"subscription": subscription.id},
            status=MessageStatus.SKIPPED,
            note=reason,
        )
        return
    preview = upcoming_invoice(session, subscription)
    queue_email(
        session,
        kind=Kind.RENEWAL_REMINDER,
        cause_key=key,
        occurred_at=now,
        customer_id=subscription.customer_id,
        data={
            "subscription": subscription.id,
            "plan": plan_name(session, subscription),
            "payment_date": subscription.current_period_end,
            "amount": int(preview["amount_due"]),
            "currency": subscription.currency,
            "discounted": int(preview["amount_due"]) < int(preview["subtotal"]),
            "interval": _interval(session, subscription),
        },
    )


def remind_due(runtime: Runtime) -> int:
    """Periodic task (real time): queue the reminders of renewals due within the notice period."""
    policy = ReminderPolicy.from_settings(runtime.settings)
    if policy.days <= 0:
        return 0
    now = runtime.clock.now()
    window = policy.days * DAY
    key = (
        literal("renewal_reminder:")
        + Subscription.id
        + literal(":")
        + cast(Subscription.current_period_end, String)
    )
    billed_per = exists(
        select(SubscriptionItem.pk)
        .join(Price, Price.id == SubscriptionItem.price_id)
        .where(
            SubscriptionItem.subscription_id == Subscription.id,
            Price.recurring_interval.in_(policy.intervals),
        )
    )
    stmt = (
        select(Subscription)
        .where(
            Subscription.test_clock_id.is_(None),
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.current_period_end > now,
            Subscription.current_period_end <= now + window,
            Subscription.current_period_end - window >= Subscription.current_period_start,
            Subscription.cancel_at_period_end.is_(False),
            billed_per,
            ~exists(select(OutboxMessage.pk).where(OutboxMessage.cause_key == key)),
        )
        .order_by(Subscription.current_period_end, Subscription.pk)
        .limit(BATCH)
    )
    done = 0
    with runtime.sessionmaker() as session:
        for subscription in session.scalars(stmt).all():
            queue_reminder(session, subscription, policy=policy, now=now, record_skip=True)
            done += 1
        session.commit()
    return done


class ReminderStep:
    """Test clocks: plan each period's reminder moment, then queue it when the clock gets there."""

    def _unplanned(self, clock: TestClock) -> object:
        planned = exists(
            select(RenewalReminderPlan.pk).where(
                RenewalReminderPlan.subscription_id == Subscription.id,
                RenewalReminderPlan.period_end == Subscription.current_period_end,
            )
        )
        return (
            select(Subscription)
            .where(Subscription.test_clock_id == clock.id, Subscription.status.in_(PLANNABLE), ~planned)
            .order_by(Subscription.pk)
        )

    def _due(self, clock: TestClock, until: int) -> object:
        return (
            select(RenewalReminderPlan)
            .join(Subscription, Subscription.id == RenewalReminderPlan.subscription_id)
            .where(
                Subscription.test_clock_id == clock.id,
                and_(RenewalReminderPlan.remind_at.is_not(None), RenewalReminderPlan.remind_at <= until),
            )
            .order_by(RenewalReminderPlan.remind_at, RenewalReminderPlan.pk)
        )

    def next_due(self, session: Session, clock: TestClock, until: int) -> int | None:
        if session.scalars(self._unplanned(clock).limit(1)).first() is not None:  # type: ignore[attr-defined]
            return clock.frozen_time
        first = session.scalars(self._due(clock, until).limit(1)).first()  # type: ignore[attr-defined]
        return first.remind_at if first is not None else None

    def run(self, session: Session, clock: TestClock, now: int, runtime: Runtime) -> None:
        policy = ReminderPolicy.from_settings(runtime.settings)
        for subscription in list(session.scalars(self._unplanned(clock))):  # type: ignore[call-overload]
            session.add(
                RenewalReminderPlan(
                    subscription_id=subscription.id,
                    period_end=subscription.current_period_end,
                    remind_at=policy.remind_at(subscription)
                    if _interval(session, subscription) in policy.intervals
                    else None,
                )
            )
        session.flush()
        for plan in list(session.scalars(self._due(clock, now))):  # type: ignore[call-overload]
            subscription = session.scalar(select(Subscription).where(Subscription.id == plan.subscription_id))
            plan.remind_at = None
            if subscription is not None and subscription.current_period_end == plan.period_end:
                queue_reminder(session, subscription, policy=policy, now=now, record_skip=False)
        session.flush()


REMINDER_STEP = ReminderStep()
register_step(REMINDER_STEP)
