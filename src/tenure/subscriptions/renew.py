"""The billing runner: whatever is due on a subscription (renewal, retry, trial end, scheduled cancel).

Due subscriptions are claimed a batch at a time under row locks, one transaction per batch, so a
renewal happens exactly once even with several workers (`FOR UPDATE SKIP LOCKED` on PostgreSQL)
and after a crash (an uncommitted batch rolls back and is simply done again). A batch's plain
renewals are done set-based (`renew_batch`); the rest, one subscription at a time, here.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.billing_context import BillingContext
from tenure.customers.models import Customer
from tenure.invoices.models import BillingReason, InvoiceStatus
from tenure.invoices.service import (
    attempt_payment,
    create_invoice,
    pending_lines,
    subscription_lines,
    void_invoice,
)
from tenure.prices.models import Price
from tenure.runtime import Runtime
from tenure.subscriptions import cancel as cancelling
from tenure.subscriptions import renew_batch
from tenure.subscriptions.common import (
    INCOMPLETE_EXPIRY,
    TRIAL_WILL_END_NOTICE,
    latest_open_invoice,
    record_subscription_event,
    recording_update,
    refresh_next_action,
    renewal_period,
    status_after_renewal,
)
from tenure.subscriptions.models import CancellationReason, Subscription, SubscriptionStatus
from tenure.testclocks.advance import register_step
from tenure.testclocks.models import TestClock

log = logging.getLogger(__name__)

BATCH = 200
# A bound on actions per subscription per pass: a subscription far behind catches up over passes.
MAX_STEPS = 500


def process_due(session: Session, subscription: Subscription, *, now: int, context: BillingContext) -> int:
    """Do everything due on `subscription` up to `now`, in time order. Returns the number of steps."""
    steps = 0
    while (
        subscription.next_action_at is not None and subscription.next_action_at <= now and steps < MAX_STEPS
    ):
        _step(session, subscription, at=subscription.next_action_at, context=context)
        refresh_next_action(session, subscription)
        session.flush()
        steps += 1
    return steps


def _step(session: Session, subscription: Subscription, *, at: int, context: BillingContext) -> None:
    status = subscription.status
    if status == SubscriptionStatus.INCOMPLETE:
        _incomplete(session, subscription, at=at, context=context)
        return
    if (
        status == SubscriptionStatus.TRIALING
        and subscription.trial_end
        and not subscription.trial_will_end_sent
        and at >= subscription.trial_end - TRIAL_WILL_END_NOTICE
        and at < subscription.trial_end
    ):
        subscription.trial_will_end_sent = True
        record_subscription_event(session, subscription, "customer.subscription.trial_will_end", now=at)
        return
    if subscription.cancel_at is not None and subscription.cancel_at <= at:
        cancelling.end_at(session, subscription, ended_at=subscription.cancel_at)
        return
    pause = subscription.pause_collection
    if pause and pause.get("resumes_at") and int(pause["resumes_at"]) <= at:
        with recording_update(session, subscription, now=at):
            subscription.pause_collection = None
        return
    if subscription.current_period_end <= at:
        if subscription.cancel_at_period_end:
            cancelling.end_at(session, subscription, ended_at=subscription.current_period_end)
        else:
            _renew(session, subscription, context=context)
        return
    invoice = latest_open_invoice(session, subscription)
    if (
        invoice is not None
        and invoice.next_payment_attempt is not None
        and invoice.next_payment_attempt <= at
    ):
        _retry(session, subscription, at=at, context=context)
        return
    # Nothing matched (e.g. a stale next_action_at): recompute and move on.
    log.debug("nothing due on %s at %s", subscription.id, at)


def _incomplete(session: Session, subscription: Subscription, *, at: int, context: BillingContext) -> None:
    if at >= subscription.created + INCOMPLETE_EXPIRY:
        with recording_update(session, subscription, now=at):
            subscription.status = SubscriptionStatus.INCOMPLETE_EXPIRED
            subscription.ended_at = at
            invoice = latest_open_invoice(session, subscription)
            if invoice is not None:
                void_invoice(session, invoice, now=at)
        return
    invoice = latest_open_invoice(session, subscription)
    if invoice is not None and attempt_payment(
        session, invoice, subscription=subscription, context=context, now=at
    ):
        with recording_update(session, subscription, now=at):
            subscription.status = SubscriptionStatus.ACTIVE


def _renew(session: Session, subscription: Subscription, *, context: BillingContext) -> None:
    """Start the next period at the end of the current one, invoice it and collect it."""
    price = session.scalar(select(Price).where(Price.id == subscription.items[0].price_id))
    assert price is not None
    start, end = renewal_period(subscription, price)
    # Locked before the invoice lines reference it (see create_invoice).
    customer = session.scalar(
        select(Customer).where(Customer.id == subscription.customer_id).with_for_update()
    )
    assert customer is not None
    with recording_update(session, subscription, now=start):
        subscription.current_period_start = start
        subscription.current_period_end = end
        was_trialing = subscription.status == SubscriptionStatus.TRIALING
        if subscription.pause_collection:
            # Collection paused: the period passes without an invoice.
            return
        lines = pending_lines(session, subscription) + subscription_lines(
            session, subscription, period_start=start, period_end=end, now=start
        )
        invoice = create_invoice(
            session,
            customer=customer,
            subscription=subscription,
            lines=lines,
            billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
            period_start=start,
            period_end=end,
            now=start,
        )
        paid = invoice.status == InvoiceStatus.PAID or attempt_payment(
            session, invoice, subscription=subscription, context=context, now=start
        )
        subscription.status = status_after_renewal(subscription.status, paid=paid)
        if was_trialing and subscription.status != SubscriptionStatus.TRIALING:
            subscription.trial_will_end_sent = True


def _retry(session: Session, subscription: Subscription, *, at: int, context: BillingContext) -> None:
    invoice = latest_open_invoice(session, subscription)
    assert invoice is not None
    if attempt_payment(session, invoice, subscription=subscription, context=context, now=at):
        with recording_update(session, subscription, now=at):
            subscription.status = SubscriptionStatus.ACTIVE
        return
    if invoice.next_payment_attempt is not None:
        return
    # The last retry failed.
    if context.dunning.final_action == "unpaid":
        with recording_update(session, subscription, now=at):
            subscription.status = SubscriptionStatus.UNPAID
        return
    cancelling.cancel_now(session, subscription, now=at, reason=CancellationReason.PAYMENT_FAILED)


def _due(stmt_clock: str | None, now: int) -> object:
    return (
        select(Subscription)
        .where(Subscription.next_action_at.is_not(None), Subscription.next_action_at <= now)
        .where(
            Subscription.test_clock_id.is_(None)
            if stmt_clock is None
            else Subscription.test_clock_id == stmt_clock
        )
        .order_by(Subscription.next_action_at, Subscription.pk)
    )


def run_billing(runtime: Runtime, *, set_based: bool = True) -> int:
    """Periodic task: process every due subscription not on a test clock, a batch per transaction.
    A batch's plain renewals are done set-based unless `set_based` is False (the differential
    test's reference); every other step goes through `process_due`."""
    context = BillingContext.of(runtime)
    done = 0
    while True:
        with runtime.sessionmaker() as session:
            now = runtime.clock.now()
            claimed = (
                _claim_renewing(session, now=now, context=context) if set_based else _claim(session, now=now)
            )
            if claimed is None:
                return done
            renewed, batch = claimed
            done += renewed
            for subscription in batch:
                done += process_due(session, subscription, now=now, context=context)
            session.commit()


def _claim_renewing(
    session: Session, *, now: int, context: BillingContext
) -> tuple[int, list[Subscription]] | None:
    """Claim a batch and renew its plain renewals set-based: how many, and the subscriptions left
    for `process_due` (those `renew_batch.classify` sends there, and those with more due after
    their renewal). None when nothing is due."""
    claimed = renew_batch.claim(session, now=now, limit=BATCH)
    if not claimed:
        return None
    customers = renew_batch.lock_customers(session, (s.customer_id for s in claimed))
    book = renew_batch.read_book(session, claimed)
    plain, general = renew_batch.classify(claimed, book, now=now)
    rest = [*general, *renew_batch.renew(session, plain, customers, book, now=now, context=context)]
    if not rest:
        return len(plain), []
    left = session.scalars(
        select(Subscription)
        .where(Subscription.pk.in_(rest))
        .order_by(Subscription.next_action_at, Subscription.pk)
    )
    return len(plain), list(left)


def _claim(session: Session, *, now: int) -> tuple[int, list[Subscription]] | None:
    """Claim a batch for `process_due` alone (nothing renewed yet); None when nothing is due."""
    stmt = _due(None, now).limit(BATCH)  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    batch = list(session.scalars(stmt))
    if not batch:
        return None
    renew_batch.lock_customers(session, (s.customer_id for s in batch))
    return 0, batch


class BillingStep:
    """Test clocks: billing work on the clock's subscriptions happens as the clock moves."""

    def next_due(self, session: Session, clock: TestClock, until: int) -> int | None:
        stmt = _due(clock.id, until)
        first = session.scalars(stmt.limit(1)).first()  # type: ignore[attr-defined]
        return first.next_action_at if first is not None else None

    def run(self, session: Session, clock: TestClock, now: int, runtime: Runtime) -> None:
        context = BillingContext.of(runtime)
        for subscription in list(session.scalars(_due(clock.id, now))):  # type: ignore[call-overload]
            # One step at a time, so that several subscriptions on a clock stay in time order.
            if subscription.next_action_at is not None and subscription.next_action_at <= now:
                _step(session, subscription, at=subscription.next_action_at, context=context)
                refresh_next_action(session, subscription)
        session.flush()


BILLING_STEP = BillingStep()
register_step(BILLING_STEP)
