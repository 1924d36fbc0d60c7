"""Invoices: build one from a subscription's items and pending prorations, finalize it, collect it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, ResourceMissing
from tenure.billing_context import BillingContext
from tenure.coupons.models import Coupon
from tenure.coupons.service import discount_amount
from tenure.customers.models import Customer
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.invoices.models import BillingReason, Invoice, InvoiceLine, InvoiceStatus
from tenure.invoices.schemas import LineFields, serialize_invoice
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import ChargeOutcome
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.subscriptions.models import Discount, Subscription


def get_invoice(session: Session, invoice_id: str, *, for_update: bool = False) -> Invoice:
    stmt = select(Invoice).where(Invoice.id == invoice_id)
    if for_update:
        stmt = stmt.with_for_update()
    invoice = session.scalar(stmt)
    if invoice is None:
        raise ResourceMissing("invoice", invoice_id)
    return invoice


def item_description(session: Session, price: Price, quantity: int) -> str:
    product = session.scalar(select(Product).where(Product.id == price.product_id))
    return line_description(price, product.name if product else None, quantity)


def line_description(price: Price, product_name: str | None, quantity: int) -> str:
    """`2 × Team plan`: the quantity and the product's name (its id if the product is gone)."""
    return f"{quantity} × {product_name if product_name is not None else price.product_id}"


def active_discounts(session: Session, subscription: Subscription, at: int) -> list[tuple[Discount, Coupon]]:
    rows = session.execute(
        select(Discount, Coupon)
        .join(Coupon, Coupon.id == Discount.coupon_id)
        .where(Discount.subscription_id == subscription.id, Discount.removed_at.is_(None))
        .order_by(Discount.pk)
    ).all()
    return [(d, c) for d, c in rows if d.start <= at and (d.end is None or at < d.end)]


def subscription_lines(
    session: Session, subscription: Subscription, *, period_start: int, period_end: int, now: int
) -> list[InvoiceLine]:
    """One line per item for the period (not yet added to the session)."""
    lines = []
    for item in subscription.items:
        price = session.scalar(select(Price).where(Price.id == item.price_id))
        assert price is not None
        lines.append(
            InvoiceLine(
                **item_line_values(
                    subscription,
                    item_id=item.id,
                    quantity=item.quantity,
                    price=price,
                    description=item_description(session, price, item.quantity),
                    period_start=period_start,
                    period_end=period_end,
                    now=now,
                )
            )
        )
    return lines


class LineOwner(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def currency(self) -> str: ...


def item_line_values(
    subscription: LineOwner,
    *,
    item_id: str,
    quantity: int,
    price: Price,
    description: str,
    period_start: int,
    period_end: int,
    now: int,
) -> dict[str, Any]:
    """The columns of an item's line for a period: `quantity` × the price's unit amount."""
    return {
        "id": new_id("il"),
        "customer_id": subscription.customer_id,
        "subscription_id": subscription.id,
        "subscription_item_id": item_id,
        "price_id": price.id,
        "description": description,
        "quantity": quantity,
        "amount": price.unit_amount * quantity,
        "discount_amounts": [],
        "currency": subscription.currency,
        "period_start": period_start,
        "period_end": period_end,
        "proration": False,
        "created": now,
    }


def pending_lines(session: Session, subscription: Subscription) -> list[InvoiceLine]:
    return list(
        session.scalars(
            select(InvoiceLine)
            .where(InvoiceLine.subscription_id == subscription.id, InvoiceLine.invoice_id.is_(None))
            .order_by(InvoiceLine.pk)
        )
    )


def _apply_discounts(
    lines: list[InvoiceLine], discounts: list[tuple[Discount, Coupon]], currency: str
) -> list[dict[str, object]]:
    """Spread each coupon over the lines; returns the invoice's `total_discount_amounts`."""
    totals: list[dict[str, object]] = []
    remaining = {line.id: line.amount for line in lines}
    for discount, coupon in discounts:
        applied_total = 0
        for line in lines:
            base = remaining[line.id]
            if base <= 0:
                continue
            amount = discount_amount(coupon, base, currency)
            if amount <= 0:
                continue
            if coupon.amount_off is not None:
                amount = min(amount, coupon.amount_off - applied_total)
                if amount <= 0:
                    continue
            remaining[line.id] -= amount
            line.discount_amounts = [*line.discount_amounts, {"amount": amount, "discount": discount.id}]
            applied_total += amount
        totals.append({"amount": applied_total, "discount": discount.id})
    return totals


def create_invoice(
    session: Session,
    *,
    customer: Customer,
    subscription: Subscription,
    lines: list[InvoiceLine],
    billing_reason: BillingReason,
    period_start: int,
    period_end: int,
    now: int,
    apply_discounts: bool = True,
) -> Invoice:
    """Create and finalize an invoice for `lines`; apply discounts and the customer's balance."""
    # Two invoices for one customer at once (two subscriptions created together, renewals on two
    # workers) would read the same sequence and balance: hold the customer's row until commit.
    # Callers lock it before inserting rows that reference it: PostgreSQL's foreign-key share
    # locks would otherwise deadlock two writers upgrading to this lock.
    session.flush()
    session.refresh(customer, with_for_update=True)
    discounts = active_discounts(session, subscription, now) if apply_discounts else []
    total_discounts = _apply_discounts(lines, discounts, subscription.currency)
    values = finalized_invoice_values(
        customer,
        subscription=subscription,
        lines=lines,
        total_discounts=total_discounts,
        billing_reason=billing_reason,
        period_start=period_start,
        period_end=period_end,
        now=now,
    )
    if values["subtotal"] > 0:
        for discount, coupon in discounts:
            if coupon.duration == "once":
                discount.removed_at = now
    invoice = Invoice(**values)
    session.add(invoice)
    session.flush()
    for line in lines:
        line.invoice_id = invoice.id
        if line not in session:
            session.add(line)
    session.flush()
    session.refresh(invoice, ["lines"])
    subscription.latest_invoice_id = invoice.id
    record_event(session, type="invoice.created", obj=serialize_invoice(invoice), now=now)
    record_event(session, type="invoice.finalized", obj=serialize_invoice(invoice), now=now)
    if invoice.amount_due == 0:
        _mark_paid(session, invoice, now=now)
    return invoice


class InvoicedCustomer(Protocol):
    """The customer's columns an invoice takes: its number, and its balance (which it moves)."""

    @property
    def id(self) -> str: ...
    @property
    def invoice_prefix(self) -> str: ...

    balance: int
    next_invoice_sequence: int


class InvoicedSubscription(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def test_clock_id(self) -> str | None: ...


def settle_balance(total: int, balance: int) -> tuple[int, int]:
    """(amount due, the customer's new balance) for an invoice of `total`: credit (a negative
    balance) pays a positive total first; a negative total becomes credit."""
    amount_due = total
    if total > 0 and balance < 0:
        applied = min(total, -balance)
        amount_due = total - applied
        balance += applied
    elif total < 0:
        # A credit (e.g. unused time): it goes to the customer's balance for later invoices.
        balance += total
        amount_due = 0
    return amount_due, balance


def finalized_invoice_values(
    customer: InvoicedCustomer,
    *,
    subscription: InvoicedSubscription,
    lines: Sequence[LineFields],
    total_discounts: list[dict[str, object]],
    billing_reason: str,
    period_start: int,
    period_end: int,
    now: int,
) -> dict[str, Any]:
    """The columns of a new, finalized invoice for `lines` (discounts already spread over them):
    its totals, the customer's balance applied and its next number, both moved on `customer`."""
    subtotal = sum(line.amount for line in lines)
    discounted = sum(int(d["amount"]) for d in total_discounts)  # type: ignore[call-overload]
    total = subtotal - discounted
    starting_balance = customer.balance
    amount_due, customer.balance = settle_balance(total, customer.balance)
    sequence = customer.next_invoice_sequence
    customer.next_invoice_sequence = sequence + 1
    return {
        "id": new_id("in"),
        "created": now,
        "customer_id": customer.id,
        "subscription_id": subscription.id,
        "status": InvoiceStatus.OPEN,
        "number": f"{customer.invoice_prefix}-{sequence:04d}",
        "currency": subscription.currency,
        "billing_reason": billing_reason,
        "subtotal": subtotal,
        "total": total,
        "discount_amounts": total_discounts,
        "amount_due": amount_due,
        "amount_paid": 0,
        "amount_remaining": amount_due,
        "starting_balance": starting_balance,
        "ending_balance": customer.balance,
        "period_start": period_start,
        "period_end": period_end,
        "finalized_at": now,
        "test_clock_id": subscription.test_clock_id,
        "metadata_": {},
    }


class Collectable(Protocol):
    """An open invoice's columns that collecting it changes."""

    @property
    def id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount_due(self) -> int: ...
    @property
    def subscription_id(self) -> str | None: ...
    @property
    def billing_reason(self) -> str: ...
    @property
    def period_start(self) -> int: ...

    status: str
    amount_paid: int
    amount_remaining: int
    paid_at: int | None
    next_payment_attempt: int | None
    attempt_count: int
    attempted: bool
    last_payment_error: dict[str, Any] | None
    first_failed_at: int | None


def mark_paid(invoice: Collectable, *, now: int) -> None:
    """The invoice is paid in full (by a charge, or because nothing was due)."""
    invoice.status = InvoiceStatus.PAID
    invoice.amount_paid = invoice.amount_due
    invoice.amount_remaining = 0
    invoice.paid_at = now
    invoice.next_payment_attempt = None


def _mark_paid(session: Session, invoice: Invoice, *, now: int) -> None:
    mark_paid(invoice, now=now)
    session.flush()
    _record_paid(session, invoice, now=now)


def _record_paid(session: Session, invoice: Invoice, *, now: int) -> None:
    record_event(session, type="invoice.paid", obj=serialize_invoice(invoice), now=now)
    record_event(session, type="invoice.payment_succeeded", obj=serialize_invoice(invoice), now=now)


def payment_method_candidates(
    invoice_default: str | None, subscription_default: str | None, customer_default: str | None
) -> Iterator[str]:
    """The payment methods an invoice may be charged with, in order: its own default, its
    subscription's, its customer's; the first that still belongs to the customer is used."""
    for candidate in (invoice_default, subscription_default, customer_default):
        if candidate:
            yield candidate


def belongs_to(method: PaymentMethod | None, customer_id: str) -> bool:
    return method is not None and method.customer_id == customer_id


def payment_method_for(
    session: Session, invoice: Invoice, subscription: Subscription | None
) -> PaymentMethod | None:
    customer = session.scalar(select(Customer).where(Customer.id == invoice.customer_id))
    for candidate in payment_method_candidates(
        invoice.default_payment_method_id,
        subscription.default_payment_method_id if subscription else None,
        customer.default_payment_method_id if customer else None,
    ):
        method = session.scalar(select(PaymentMethod).where(PaymentMethod.id == candidate))
        if belongs_to(method, invoice.customer_id):
            return method
    return None


def attempt_payment(
    session: Session,
    invoice: Invoice,
    *,
    subscription: Subscription | None,
    context: BillingContext,
    now: int,
    payment_method: PaymentMethod | None = None,
) -> bool:
    """Charge the invoice's amount due; on failure schedule the next dunning retry. True when paid."""
    if invoice.status != InvoiceStatus.OPEN:
        raise InvalidRequest(
            f"Invoice is already {invoice.status}.", param="invoice", code="invoice_not_open"
        )
    if invoice.amount_remaining == 0:
        _mark_paid(session, invoice, now=now)
        return True
    method = payment_method or payment_method_for(session, invoice, subscription)
    paid = charge_invoice(invoice, method, context=context, now=now)
    session.flush()
    if paid:
        _record_paid(session, invoice, now=now)
        return True
    record_event(session, type="invoice.payment_failed", obj=serialize_invoice(invoice), now=now)
    return False


def charge_key(invoice: Collectable) -> str:
    """The processor's idempotency key for the invoice's current attempt: the same key, the same
    charge. A renewal's invoice is made and charged in the billing run's transaction; should that
    roll back after the charge (a crash, a processor error later in the batch), the next run renews
    the subscription again with a new invoice, and its key, taken from the subscription and the
    period rather than the invoice's id, is the one already charged. Other invoices are keyed by
    their id."""
    if invoice.billing_reason == BillingReason.SUBSCRIPTION_CYCLE and invoice.subscription_id:
        return f"{invoice.subscription_id}:{invoice.period_start}:{invoice.attempt_count}"
    return f"{invoice.id}:{invoice.attempt_count}"


def charge_invoice(
    invoice: Collectable, method: PaymentMethod | None, *, context: BillingContext, now: int
) -> bool:
    """One attempt to collect what remains on an open invoice with `method` (through the
    processor): paid, or the error and the next dunning retry. No events; True when paid."""
    invoice.attempt_count += 1
    invoice.attempted = True
    if method is None:
        error: dict[str, str | None] = {
            "type": "invalid_request_error",
            "code": "invoice_no_payment_method",
            "message": "The customer has no payment method to charge.",
        }
    else:
        result = context.processor.charge(
            method,
            amount=invoice.amount_remaining,
            currency=invoice.currency,
            idempotency_key=charge_key(invoice),
        )
        if result.outcome == ChargeOutcome.SUCCEEDED:
            invoice.last_payment_error = None
            mark_paid(invoice, now=now)
            return True
        error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": result.decline_code,
            "message": result.failure_message or "The charge failed.",
            "payment_method": method.id,
        }
    invoice.last_payment_error = error
    if invoice.first_failed_at is None:
        invoice.first_failed_at = now
    invoice.next_payment_attempt = context.dunning.next_retry(invoice.first_failed_at, invoice.attempt_count)
    return False


def void_invoice(session: Session, invoice: Invoice, *, now: int) -> None:
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.DRAFT, InvoiceStatus.UNCOLLECTIBLE):
        raise InvalidRequest(
            f"You can only void open invoices; this one is {invoice.status}.", param="invoice"
        )
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = now
    invoice.next_payment_attempt = None
    invoice.amount_remaining = 0
    session.flush()
    record_event(session, type="invoice.voided", obj=serialize_invoice(invoice), now=now)


def stop_retries(session: Session, subscription_id: str) -> None:
    """Canceling a subscription stops the automatic collection of its open invoices."""
    for invoice in session.scalars(
        select(Invoice).where(
            Invoice.subscription_id == subscription_id, Invoice.status == InvoiceStatus.OPEN
        )
    ):
        invoice.next_payment_attempt = None
    session.flush()
