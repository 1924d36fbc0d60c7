"""The upcoming invoice of a subscription: computed like a renewal, never saved."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.customers.models import Customer
from tenure.invoices.models import Invoice, InvoiceLine, InvoiceStatus
from tenure.invoices.schemas import serialize_invoice
from tenure.invoices.service import _apply_discounts, active_discounts, pending_lines, subscription_lines
from tenure.prices.models import Price
from tenure.subscriptions.models import Subscription
from tenure.subscriptions.periods import next_boundary


def _copy(line: InvoiceLine) -> InvoiceLine:
    return InvoiceLine(
        id=line.id,
        customer_id=line.customer_id,
        subscription_id=line.subscription_id,
        subscription_item_id=line.subscription_item_id,
        price_id=line.price_id,
        description=line.description,
        quantity=line.quantity,
        amount=line.amount,
        discount_amounts=[],
        currency=line.currency,
        period_start=line.period_start,
        period_end=line.period_end,
        proration=line.proration,
        created=line.created,
    )


def upcoming_invoice(session: Session, subscription: Subscription) -> dict[str, Any]:
    start = subscription.current_period_end
    price = session.scalar(select(Price).where(Price.id == subscription.items[0].price_id))
    assert price is not None and price.recurring_interval is not None
    end = next_boundary(
        subscription.billing_cycle_anchor,
        price.recurring_interval,
        price.recurring_interval_count or 1,
        start,
    )
    with session.no_autoflush:
        lines = [_copy(line) for line in pending_lines(session, subscription)]
        lines += subscription_lines(session, subscription, period_start=start, period_end=end, now=start)
        totals = _apply_discounts(
            lines, active_discounts(session, subscription, start), subscription.currency
        )
        customer = session.scalar(select(Customer).where(Customer.id == subscription.customer_id))
        assert customer is not None
        subtotal = sum(line.amount for line in lines)
        total = subtotal - sum(int(str(d["amount"])) for d in totals)
        credit = min(max(total, 0), max(-customer.balance, 0))
        invoice = Invoice(
            id=f"upcoming_in_{subscription.id}",
            created=start,
            customer_id=customer.id,
            subscription_id=subscription.id,
            status=InvoiceStatus.DRAFT,
            number=None,
            currency=subscription.currency,
            billing_reason="upcoming",
            subtotal=subtotal,
            total=total,
            discount_amounts=totals,
            amount_due=max(total, 0) - credit,
            amount_paid=0,
            amount_remaining=max(total, 0) - credit,
            starting_balance=customer.balance,
            ending_balance=None,
            period_start=start,
            period_end=end,
            attempt_count=0,
            attempted=False,
            next_payment_attempt=start,
            test_clock_id=subscription.test_clock_id,
            metadata_={},
            livemode=False,
        )
        invoice.lines = lines
        result = serialize_invoice(invoice)
        for transient in (invoice, *lines):
            if transient in session:
                session.expunge(transient)
    result["id"] = None
    return result
