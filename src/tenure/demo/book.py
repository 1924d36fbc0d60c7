"""Playing the demo year: every customer's moments in time order, through the same services the API
calls, on a frozen clock that walks from a year ago to now. Before each moment the billing runner
catches up (renewals, dunning retries, trial ends, expiries), exactly as the worker would have.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tenure.billing_context import BillingContext
from tenure.clock import FrozenClock
from tenure.consumers import drain
from tenure.customers.schemas import AddressParams, CustomerCreate, CustomerUpdate, InvoiceSettingsParams
from tenure.customers.service import create_customer, update_customer
from tenure.demo.catalog import PLANS, Catalog
from tenure.demo.lives import PAYPAL, SEPA, Life
from tenure.payments.schemas import BillingDetailsParams, PaymentMethodCreate, PaypalParams, SepaDebitParams
from tenure.payments.service import attach_payment_method, create_payment_method
from tenure.runtime import Runtime
from tenure.subscriptions import service as subscriptions
from tenure.subscriptions.create import create_subscription
from tenure.subscriptions.models import Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.periods import add_months
from tenure.subscriptions.renew import process_due, run_billing
from tenure.subscriptions.schemas import (
    CancellationDetailsParams,
    ItemParams,
    PauseCollectionParams,
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionUpdate,
)

Progress = Callable[[str], None]

# Test IBANs that pay (by the customer's country) and one whose debits bounce.
_IBANS = {
    "DE": "DE89370400440532013000",
    "AT": "AT611904300234573201",
    "FR": "FR1420041010050500013M02606",
    "BE": "FR1420041010050500013M02606",
    "NL": "NL39RABO0300065264",
}
_FAILING_IBAN = "DE62370400440532013001"
# Moments a customer can still act on their subscription (cancel, keep, switch…).
_CANCELLABLE = (
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
)


class Book:
    """The demo business's year. Each moment is its own transaction, as each API request would be."""

    def __init__(self, runtime: Runtime, catalog: Catalog, *, start: int, end: int) -> None:
        self.clock = FrozenClock(start)
        # The same store and settings, on a clock that starts a year ago.
        self.runtime = replace(runtime, clock=self.clock)
        self.context = BillingContext.of(self.runtime)
        # The demo's policy: a Business plan whose dunning fails is kept `unpaid` for the account
        # manager to follow up, the other plans are canceled (the default).
        unpaid = runtime.settings.model_copy(update={"dunning_final_action": "unpaid"})
        self.business_context = BillingContext.of(replace(self.runtime, settings=unpaid))
        self.catalog = catalog
        self.business_prices = [price for price, plan in catalog.plan_of_price.items() if plan == "business"]
        self.start, self.end = start, end

    def play(self, lives: list[Life], *, progress: Progress) -> None:
        queue = [
            (at, order, action, index)
            for index, life in enumerate(lives)
            for order, (at, action) in enumerate(life.moments(until=self.end))
        ]
        heapq.heapify(queue)
        moments: dict[str, Callable[[Session, Life, int], None]] = {
            "signup": self._signup,
            "fix_incomplete": self._fix_incomplete,
            "card_fails": self._card_fails,
            "card_fixed": self._card_fixed,
            "upgrade": self._upgrade,
            "yearly": self._yearly,
            "pause": self._pause,
            "cancel": self._cancel,
            "keep": self._keep,
        }
        report = add_months(self.start, 1)
        signed_up = 0
        while queue:
            at, _, action, index = heapq.heappop(queue)
            while report <= at:
                self.advance(report)
                progress(f"  {_month(report - 1)}: {signed_up} customers")
                report = add_months(report, 1)
            self.advance(at)
            if action == "signup":
                signed_up += 1
            with self.runtime.sessionmaker() as session:
                moments[action](session, lives[index], at)
                session.commit()
        self.advance(self.end)
        drain(self.runtime)
        progress(f"  {_month(self.end)}: {signed_up} customers")

    def advance(self, at: int) -> None:
        """Move the clock to `at` and do the billing work due by then. Of the event log's consumers,
        only the one billing depends on catches up first (a new default card makes an open invoice
        due now); the others catch up once, at the end of the book."""
        self.clock.set(at)
        drain(self.runtime, only=("payment_retries",))
        with self.runtime.sessionmaker() as session:
            due = select(Subscription).where(
                Subscription.test_clock_id.is_(None),
                Subscription.next_action_at <= at,
                Subscription.id.in_(
                    select(SubscriptionItem.subscription_id).where(
                        SubscriptionItem.price_id.in_(self.business_prices)
                    )
                ),
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)  # as the runner claims its work
            for subscription in session.scalars(due):
                process_due(session, subscription, now=at, context=self.business_context)
            session.commit()
        run_billing(self.runtime)

    # -- the moments of a life (each gets its own session, committed by `play`)

    def _signup(self, session: Session, life: Life, at: int) -> None:
        person = life.person
        method = self._payment_method(session, life, at, failing=False)
        customer = create_customer(
            session,
            CustomerCreate(
                name=person.name,
                email=person.email,
                preferred_locales=person.preferred_locales,
                address=AddressParams(city=person.city, country=person.country),
                payment_method=method,
                invoice_settings=InvoiceSettingsParams(default_payment_method=method),
            ),
            processor=self.context.processor,
            real_now=at,
        )
        coupons = {"launch": self.catalog.launch_coupon, "welcome": self.catalog.welcome_coupon_eur}
        params = SubscriptionCreate(
            customer=customer.id,
            items=[ItemParams(price=self.catalog.price(life.plan, life.interval, life.currency))],
            trial_period_days=life.trial_days,
            coupon=coupons.get(life.discount or ""),
            promotion_code=self.catalog.promotion_code if life.discount == "promotion_code" else None,
        )
        subscription = create_subscription(session, params, real_now=at, context=self.context)
        life.customer_id, life.subscription_id = customer.id, subscription.id

    def _fix_incomplete(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        if subscription.status != SubscriptionStatus.INCOMPLETE:
            return
        assert life.customer_id is not None
        card = attach_payment_method(
            session,
            "pm_card_visa",
            customer_id=life.customer_id,
            processor=self.context.processor,
            real_now=at,
        )
        subscriptions.update(
            session,
            subscription.id,
            SubscriptionUpdate(default_payment_method=card.id),
            real_now=at,
            context=self.context,
        )
        self._set_default(session, life, card.id, at)

    def _card_fails(self, session: Session, life: Life, at: int) -> None:
        if self._subscription(session, life).status in _CANCELLABLE:
            self._set_default(session, life, self._payment_method(session, life, at, failing=True), at)

    def _card_fixed(self, session: Session, life: Life, at: int) -> None:
        # A new default payment method makes the runner retry what is owed on its next pass.
        if self._subscription(session, life).status in _CANCELLABLE:
            self._set_default(session, life, self._payment_method(session, life, at, failing=False), at)

    def _upgrade(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        plan, interval, currency = self._current(subscription)
        if not self._settled(subscription) or plan == PLANS[-1]:
            return
        higher = PLANS[PLANS.index(plan) + 1]
        self._change_price(session, subscription, self.catalog.price(higher, interval, currency), at)

    def _yearly(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        plan, interval, currency = self._current(subscription)
        if self._settled(subscription) and interval == "month":
            self._change_price(session, subscription, self.catalog.price(plan, "year", currency), at)

    def _pause(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        if self._settled(subscription) and subscription.pause_collection is None:
            pause = PauseCollectionParams(behavior="void", resumes_at=add_months(at, 2))
            subscriptions.update(
                session,
                subscription.id,
                SubscriptionUpdate(pause_collection=pause),
                real_now=at,
                context=self.context,
            )

    def _cancel(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        if subscription.status not in _CANCELLABLE or subscription.cancel_at_period_end:
            return
        details = CancellationDetailsParams(feedback=life.feedback, comment=life.comment)
        if life.cancel_now:
            subscriptions.cancel(
                session,
                subscription.id,
                SubscriptionCancel(cancellation_details=details, prorate=life.prorate),
                real_now=at,
            )
            return
        subscriptions.update(
            session,
            subscription.id,
            SubscriptionUpdate(cancel_at_period_end=True, cancellation_details=details),
            real_now=at,
            context=self.context,
        )

    def _keep(self, session: Session, life: Life, at: int) -> None:
        subscription = self._subscription(session, life)
        if subscription.status in _CANCELLABLE and subscription.cancel_at_period_end:
            subscriptions.update(
                session,
                subscription.id,
                SubscriptionUpdate(cancel_at_period_end=False),
                real_now=at,
                context=self.context,
            )

    # -- helpers

    def _subscription(self, session: Session, life: Life) -> Subscription:
        found = session.scalar(select(Subscription).where(Subscription.id == life.subscription_id))
        assert found is not None
        return found

    def _current(self, subscription: Subscription) -> tuple[str, str, str]:
        price = subscription.items[0].price_id
        return next(key for key, value in self.catalog.prices.items() if value == price)

    @staticmethod
    def _settled(subscription: Subscription) -> bool:
        """Paying normally, with no cancellation or pause pending: free to change plan."""
        return (
            subscription.status == SubscriptionStatus.ACTIVE
            and not subscription.cancel_at_period_end
            and subscription.pause_collection is None
        )

    def _change_price(self, session: Session, subscription: Subscription, price: str, at: int) -> None:
        item = subscription.items[0]
        subscriptions.update(
            session,
            subscription.id,
            SubscriptionUpdate(items=[ItemParams(id=item.id, price=price)]),
            real_now=at,
            context=self.context,
        )

    def _payment_method(self, session: Session, life: Life, at: int, *, failing: bool) -> str:
        """A payment method the way this customer pays: a test token, or a new SEPA / PayPal method."""
        person = life.person
        if life.payment == SEPA:
            iban = _FAILING_IBAN if failing else _IBANS.get(person.country, _IBANS["DE"])
            params = PaymentMethodCreate(
                type="sepa_debit",
                sepa_debit=SepaDebitParams(iban=iban),
                billing_details=BillingDetailsParams(name=person.name, email=person.email),
            )
        elif life.payment == PAYPAL and not failing:
            params = PaymentMethodCreate(type="paypal", paypal=PaypalParams(payer_email=person.email))
        elif failing:
            return life.failing_card
        else:
            return life.payment
        return create_payment_method(session, params, processor=self.context.processor, now=at).id

    def _set_default(self, session: Session, life: Life, reference: str, at: int) -> None:
        assert life.customer_id is not None
        method = attach_payment_method(
            session, reference, customer_id=life.customer_id, processor=self.context.processor, real_now=at
        )
        update_customer(
            session,
            life.customer_id,
            CustomerUpdate(invoice_settings=InvoiceSettingsParams(default_payment_method=method.id)),
            real_now=at,
        )


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Subscription.status, func.count()).group_by(Subscription.status))
    return {status: count for status, count in rows}


def _month(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m")
