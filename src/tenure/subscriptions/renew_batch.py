"""Set-based renewals: the billing run's common case, a batch at a time.

A batch of due subscriptions is claimed in one query; what their renewals need (items, prices,
products, customers, payment methods) is read in a few more; each renewal — its period, invoice,
line, charge, events — is computed in Python with the rules the per-subscription path uses
(`renewal_period`, `finalized_invoice_values`, `charge_invoice`, `status_after_renewal`,
`next_action_at`, the serializers); and the batch is written with one multi-row statement per
table. Everything else goes through the per-subscription path (`renew.process_due`), unchanged:
`classify` says which subscriptions, and why. A differential test
(`tests/subscriptions/test_renew_batch.py`) proves both paths write the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from tenure.billing_context import BillingContext
from tenure.customers.models import Customer
from tenure.db.base import Base
from tenure.events.service import event_values, record_events
from tenure.invoices.models import BillingReason, Invoice, InvoiceLine
from tenure.invoices.schemas import serialize_invoice
from tenure.invoices.service import (
    belongs_to,
    charge_invoice,
    finalized_invoice_values,
    item_line_values,
    line_description,
    mark_paid,
    payment_method_candidates,
)
from tenure.payments.models import PaymentMethod
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.common import next_action_at, renewal_period, status_after_renewal
from tenure.subscriptions.models import Discount, Subscription, SubscriptionItem, SubscriptionStatus
from tenure.subscriptions.periods import PeriodOutOfRange
from tenure.subscriptions.schemas import subscription_payload

# ---------------------------------------------------------------------------------------------
# Loaded rows: what the batch reads, in the shapes the serializers and rules take


@dataclass(slots=True)
class ItemRow:
    id: str
    created: int
    metadata_: dict[str, Any]
    subscription_id: str
    price_id: str
    quantity: int


@dataclass(slots=True)
class SubscriptionRow:
    pk: int
    id: str
    created: int
    livemode: bool
    metadata_: dict[str, Any]
    customer_id: str
    status: str
    currency: str
    description: str | None
    billing_cycle_anchor: int
    start_date: int
    current_period_start: int
    current_period_end: int
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    ended_at: int | None
    cancellation_details: dict[str, Any]
    trial_start: int | None
    trial_end: int | None
    trial_will_end_sent: bool
    default_payment_method_id: str | None
    latest_invoice_id: str | None
    pause_collection: dict[str, Any] | None
    test_clock_id: str | None
    next_action_at: int | None
    items: list[ItemRow] = field(default_factory=list)


@dataclass(slots=True)
class CustomerRow:
    """A locked customer; `balance` and `next_invoice_sequence` move as its invoices are made."""

    pk: int
    id: str
    invoice_prefix: str
    balance: int
    next_invoice_sequence: int
    default_payment_method_id: str | None


@dataclass(slots=True)
class LineRow:
    id: str
    customer_id: str
    subscription_id: str | None
    subscription_item_id: str | None
    price_id: str | None
    description: str
    quantity: int
    amount: int
    discount_amounts: list[Any]
    currency: str
    period_start: int
    period_end: int
    proration: bool
    created: int
    invoice_id: str | None = None


@dataclass(slots=True)
class InvoiceRow:
    """A new invoice; the defaults are the model's column defaults (what an insert leaves)."""

    id: str
    created: int
    customer_id: str
    subscription_id: str | None
    status: str
    number: str | None
    currency: str
    billing_reason: str
    subtotal: int
    total: int
    discount_amounts: list[Any]
    amount_due: int
    amount_paid: int
    amount_remaining: int
    starting_balance: int
    ending_balance: int | None
    period_start: int
    period_end: int
    finalized_at: int | None
    test_clock_id: str | None
    metadata_: dict[str, Any]
    livemode: bool = False
    attempt_count: int = 0
    attempted: bool = False
    next_payment_attempt: int | None = None
    first_failed_at: int | None = None
    paid_at: int | None = None
    voided_at: int | None = None
    marked_uncollectible_at: int | None = None
    default_payment_method_id: str | None = None
    last_payment_error: dict[str, Any] | None = None
    lines: list[LineRow] = field(default_factory=list)


_SUBSCRIPTION_COLUMNS = [getattr(Subscription, f.name) for f in fields(SubscriptionRow) if f.name != "items"]
_ITEM_COLUMNS = [getattr(SubscriptionItem, f.name) for f in fields(ItemRow)]
_CUSTOMER_COLUMNS = [getattr(Customer, f.name) for f in fields(CustomerRow)]
# Attribute -> column name (`metadata_` is the column `metadata`): the batch writes with Core.
_INVOICE_COLUMNS = {
    f.name: Invoice.__mapper__.columns[f.name].key for f in fields(InvoiceRow) if f.name != "lines"
}
_LINE_COLUMNS = {f.name: InvoiceLine.__mapper__.columns[f.name].key for f in fields(LineRow)}
# `last_payment_error` is SQL NULL on an invoice never charged (the per-subscription path never
# sets it) and JSON null once a charge succeeded (it sets it to None): with this bind, None is the
# former and `JSON.NULL` the latter, so that every row has the same columns (one statement).
_PAYMENT_ERROR = bindparam(
    "last_payment_error",
    type_=JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql"),
)


def claim(session: Session, *, now: int, limit: int) -> list[SubscriptionRow]:
    """Up to `limit` subscriptions not on a test clock with something due by `now`, oldest due
    first, locked for this transaction: on PostgreSQL `FOR UPDATE SKIP LOCKED`, so that workers
    running at once divide the due set between them and nothing is renewed twice.

    One statement that locks the very rows it returns: PostgreSQL then returns each row as it is
    once locked (a change committed while the claim ran, say `cancel_at_period_end` set by a
    request, is seen). Locking keys in a subquery and reading the rows in the outer query would
    read them as of the statement's start. `ix_subscriptions_claim` has the due rows in this
    order, so a batch is read off the index without sorting the due set."""
    stmt = (
        select(*_SUBSCRIPTION_COLUMNS)
        .where(
            Subscription.test_clock_id.is_(None),
            Subscription.next_action_at.is_not(None),
            Subscription.next_action_at <= now,
        )
        .order_by(Subscription.next_action_at, Subscription.pk)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [SubscriptionRow(**row._mapping) for row in session.execute(stmt)]


def lock_customers(session: Session, customer_ids: Iterable[str]) -> dict[str, CustomerRow]:
    """Lock a batch's customers before anything is written. Renewals take their customer's row
    (invoice numbers, balance); taking a batch's customers up front, in one order, keeps two
    workers whose batches share customers from deadlocking: the second waits for the first."""
    rows = session.execute(
        select(*_CUSTOMER_COLUMNS)
        .where(Customer.id.in_(sorted(set(customer_ids))))
        .order_by(Customer.id)
        .with_for_update()
    )
    return {row.id: CustomerRow(**row._mapping) for row in rows}


# ---------------------------------------------------------------------------------------------
# Which subscriptions a batch renews


class GeneralPath(StrEnum):
    """Why a due subscription goes through the per-subscription path instead of the batch."""

    # Its period has not ended, or something else is due first (a retry, a trial notice, a
    # stale `next_action_at`): not a plain renewal.
    NOT_A_RENEWAL = "not_a_renewal"
    # Trialing (the trial ends), past due (retries), incomplete, unpaid, paused: each renews
    # with rules of its own.
    STATUS = "status"
    TEST_CLOCK = "test_clock"
    # `cancel_at_period_end` or `cancel_at`: it may end instead of renewing.
    CANCEL_SCHEDULED = "cancel_scheduled"
    # `pause_collection`: the period passes without an invoice, until it resumes.
    COLLECTION_PAUSED = "collection_paused"
    # A discount not removed (applying, ending, or ended but still listed): coupons apply.
    DISCOUNT = "discount"
    # Pending invoice items (prorations of an update) wait for this renewal's invoice.
    PENDING_ITEMS = "pending_items"
    # No items, or a price missing or not recurring.
    PRICE = "price"
    # The next period would run past the year 9999 (the per-subscription path reports it).
    PERIOD_OUT_OF_RANGE = "period_out_of_range"
    # More than one period behind: each renewal invoices, so the per-subscription path does them
    # in time order. (A dunning retry falling due by now after a failed renewal does not count:
    # it changes neither numbers nor balances, and follows the batch, see `renew`.)
    CATCHING_UP = "catching_up"
    # Its customer has a subscription in this batch on the per-subscription path: that
    # customer's invoice numbers and balance must follow the batch's order.
    SHARED_CUSTOMER = "shared_customer"


@dataclass(slots=True)
class Renewal:
    subscription: SubscriptionRow
    start: int
    end: int


@dataclass(slots=True)
class Book:
    """What the batch read about its subscriptions, keyed by subscription or price id."""

    prices: dict[str, Price]
    discounted: set[str]
    pending: set[str]


def read_book(session: Session, batch: Sequence[SubscriptionRow]) -> Book:
    """Attach each subscription's items and read what classifying them needs: four queries."""
    ids = [subscription.id for subscription in batch]
    by_id = {subscription.id: subscription for subscription in batch}
    for row in session.execute(
        select(*_ITEM_COLUMNS).where(SubscriptionItem.subscription_id.in_(ids)).order_by(SubscriptionItem.pk)
    ):
        by_id[row.subscription_id].items.append(ItemRow(**row._mapping))
    price_ids = sorted({item.price_id for subscription in batch for item in subscription.items})
    prices = {price.id: price for price in session.scalars(select(Price).where(Price.id.in_(price_ids)))}
    discounted = set(
        session.scalars(
            select(Discount.subscription_id)
            .where(Discount.subscription_id.in_(ids), Discount.removed_at.is_(None))
            .distinct()
        )
    )
    pending = set(
        session.scalars(
            select(InvoiceLine.subscription_id)
            .where(InvoiceLine.subscription_id.in_(ids), InvoiceLine.invoice_id.is_(None))
            .distinct()
        )
    )
    return Book(
        prices=prices,
        discounted={i for i in discounted if i is not None},
        pending={i for i in pending if i is not None},
    )


def classify(
    batch: Sequence[SubscriptionRow], book: Book, *, now: int
) -> tuple[list[Renewal], dict[int, GeneralPath]]:
    """Split a claimed batch: the plain renewals (renew at the same prices and quantities, charge
    the default payment method, nothing else due) and, by pk, the others with their reason."""
    general: dict[int, GeneralPath] = {}
    plain: list[Renewal] = []
    for subscription in batch:
        reason: GeneralPath | None = None
        prices = [book.prices.get(item.price_id) for item in subscription.items]
        period_end = subscription.current_period_end
        if period_end > now or subscription.next_action_at != period_end:
            reason = GeneralPath.NOT_A_RENEWAL
        elif subscription.status != SubscriptionStatus.ACTIVE:
            reason = GeneralPath.STATUS
        elif subscription.test_clock_id is not None:
            reason = GeneralPath.TEST_CLOCK
        elif subscription.cancel_at_period_end or subscription.cancel_at is not None:
            reason = GeneralPath.CANCEL_SCHEDULED
        elif subscription.pause_collection:
            reason = GeneralPath.COLLECTION_PAUSED
        elif subscription.id in book.discounted:
            reason = GeneralPath.DISCOUNT
        elif subscription.id in book.pending:
            reason = GeneralPath.PENDING_ITEMS
        elif not prices or any(p is None or not p.is_recurring or not p.recurring_interval for p in prices):
            reason = GeneralPath.PRICE
        else:
            first = prices[0]
            assert first is not None
            try:
                start, end = renewal_period(subscription, first)
            except PeriodOutOfRange:
                reason = GeneralPath.PERIOD_OUT_OF_RANGE
            else:
                if end <= now:
                    reason = GeneralPath.CATCHING_UP
                else:
                    plain.append(Renewal(subscription, start, end))
        if reason is not None:
            general[subscription.pk] = reason
    shared = {subscription.customer_id for subscription in batch if subscription.pk in general}
    kept: list[Renewal] = []
    for renewal in plain:
        if renewal.subscription.customer_id in shared:
            general[renewal.subscription.pk] = GeneralPath.SHARED_CUSTOMER
        else:
            kept.append(renewal)
    return kept, general


# ---------------------------------------------------------------------------------------------
# Renewing them


@dataclass(slots=True)
class _Writes:
    invoices: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)

    def event(
        self, type: str, obj: dict[str, Any], *, now: int, previous: dict[str, Any] | None = None
    ) -> None:
        event = event_values(type, obj=obj, now=now, previous=previous)
        if event is not None:
            self.events.append(event)

    def invoice(self, invoice: InvoiceRow) -> None:
        columns = {column: getattr(invoice, name) for name, column in _INVOICE_COLUMNS.items()}
        if invoice.attempted and invoice.last_payment_error is None:
            columns["last_payment_error"] = JSON.NULL
        self.invoices.append(columns)
        self.lines.extend(
            {column: getattr(line, name) for name, column in _LINE_COLUMNS.items()} for line in invoice.lines
        )


def renew(
    session: Session,
    renewals: Sequence[Renewal],
    customers: Mapping[str, CustomerRow],
    book: Book,
    *,
    now: int,
    context: BillingContext,
) -> list[int]:
    """Renew `renewals` (in batch order, their customers locked): invoice, line, charge, events
    and new period each, written with one multi-row statement per table. Returns the pks of
    those with more due by `now` (a dunning retry, after a late renewal's charge failed): the
    per-subscription path carries on with them."""
    if not renewals:
        return []
    product_ids = sorted({price.product_id for price in book.prices.values()})
    product_names = {
        row.id: row.name
        for row in session.execute(select(Product.id, Product.name).where(Product.id.in_(product_ids)))
    }
    wanted = sorted(
        {
            candidate
            for renewal in renewals
            for candidate in (
                renewal.subscription.default_payment_method_id,
                customers[renewal.subscription.customer_id].default_payment_method_id,
            )
            if candidate
        }
    )
    methods = {
        method.id: method
        for method in session.scalars(select(PaymentMethod).where(PaymentMethod.id.in_(wanted)))
    }
    writes = _Writes()
    touched: dict[str, CustomerRow] = {}
    for renewal in renewals:
        customer = customers[renewal.subscription.customer_id]
        touched[customer.id] = customer
        _renew_one(renewal, customer, book.prices, product_names, methods, writes, context=context)
    tables = Base.metadata.tables
    session.execute(insert(tables["invoices"]).values(last_payment_error=_PAYMENT_ERROR), writes.invoices)
    session.execute(insert(tables["invoice_lines"]), writes.lines)
    record_events(session, writes.events)
    session.execute(update(Subscription), writes.subscriptions)
    session.execute(
        update(Customer),
        [
            {"pk": c.pk, "balance": c.balance, "next_invoice_sequence": c.next_invoice_sequence}
            for c in touched.values()
        ],
    )
    return [
        row["pk"]
        for row in writes.subscriptions
        if row["next_action_at"] is not None and row["next_action_at"] <= now
    ]


def _renew_one(
    renewal: Renewal,
    customer: CustomerRow,
    prices: Mapping[str, Price],
    product_names: Mapping[str, str],
    methods: Mapping[str, PaymentMethod],
    writes: _Writes,
    *,
    context: BillingContext,
) -> None:
    """One renewal, as `renew._renew` does it, into `writes`."""
    subscription, start, end = renewal.subscription, renewal.start, renewal.end
    before = subscription_payload(subscription, prices=prices, discount_ids=())
    lines = []
    for item in subscription.items:
        price = prices[item.price_id]
        lines.append(
            LineRow(
                **item_line_values(
                    subscription,
                    item_id=item.id,
                    quantity=item.quantity,
                    price=price,
                    description=line_description(price, product_names.get(price.product_id), item.quantity),
                    period_start=start,
                    period_end=end,
                    now=start,
                )
            )
        )
    invoice = InvoiceRow(
        **finalized_invoice_values(
            customer,
            subscription=subscription,
            lines=lines,
            total_discounts=[],
            billing_reason=BillingReason.SUBSCRIPTION_CYCLE,
            period_start=start,
            period_end=end,
            now=start,
        ),
        lines=lines,
    )
    for line in lines:
        line.invoice_id = invoice.id
    finalized = serialize_invoice(invoice)
    writes.event("invoice.created", finalized, now=start)
    writes.event("invoice.finalized", finalized, now=start)
    if invoice.amount_due == 0:
        mark_paid(invoice, now=start)
        paid = True
    else:
        method = next(
            (
                methods[candidate]
                for candidate in payment_method_candidates(
                    invoice.default_payment_method_id,
                    subscription.default_payment_method_id,
                    customer.default_payment_method_id,
                )
                if belongs_to(methods.get(candidate), customer.id)
            ),
            None,
        )
        paid = charge_invoice(invoice, method, context=context, now=start)
    if paid:
        settled = serialize_invoice(invoice)
        writes.event("invoice.paid", settled, now=start)
        writes.event("invoice.payment_succeeded", settled, now=start)
    else:
        writes.event("invoice.payment_failed", serialize_invoice(invoice), now=start)
    after = replace(
        subscription,
        current_period_start=start,
        current_period_end=end,
        latest_invoice_id=invoice.id,
        status=status_after_renewal(subscription.status, paid=paid),
    )
    after.next_action_at = next_action_at(after, retry_at=invoice.next_payment_attempt)
    writes.event(
        "customer.subscription.updated",
        subscription_payload(after, prices=prices, discount_ids=()),
        now=start,
        previous=before,
    )
    writes.invoice(invoice)
    writes.subscriptions.append(
        {
            "pk": after.pk,
            "current_period_start": after.current_period_start,
            "current_period_end": after.current_period_end,
            "status": after.status,
            "latest_invoice_id": after.latest_invoice_id,
            "next_action_at": after.next_action_at,
        }
    )
