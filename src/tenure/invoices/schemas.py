from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import Field

from tenure.api.lists import ListParams, RangeFilter
from tenure.api.params import FilterTimestamp, Params


class InvoiceList(ListParams):
    customer: str | None = None
    subscription: str | None = None
    status: Literal["draft", "open", "paid", "uncollectible", "void"] | None = None
    created: FilterTimestamp | RangeFilter | None = None
    collection_method: Literal["charge_automatically", "send_invoice"] | None = None


class InvoicePay(Params):
    payment_method: str | None = None
    paid_out_of_band: bool | None = None
    off_session: bool | None = None
    forgive: bool | None = None


class InvoiceVoid(Params):
    pass


class InvoicePreview(Params):
    customer: str | None = None
    subscription: str | None = None
    subscription_details: dict[str, Any] | None = None
    automatic_tax: dict[str, Any] | None = None


class InvoiceLinesList(ListParams):
    limit: int = Field(default=10, ge=1, le=100)


class LineFields(Protocol):
    """What a line's serialization reads: a loaded `InvoiceLine`, or a row the batch renewal built."""

    @property
    def id(self) -> str: ...
    @property
    def invoice_id(self) -> str | None: ...
    @property
    def subscription_id(self) -> str | None: ...
    @property
    def subscription_item_id(self) -> str | None: ...
    @property
    def price_id(self) -> str | None: ...
    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def amount(self) -> int: ...
    @property
    def discount_amounts(self) -> list[Any]: ...
    @property
    def currency(self) -> str: ...
    @property
    def period_start(self) -> int: ...
    @property
    def period_end(self) -> int: ...
    @property
    def proration(self) -> bool: ...


class InvoiceFields(Protocol):
    """What an invoice's serialization reads: a loaded `Invoice` with its lines, or a batch row."""

    @property
    def id(self) -> str: ...
    @property
    def created(self) -> int: ...
    @property
    def livemode(self) -> bool: ...
    @property
    def metadata_(self) -> dict[str, Any]: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def subscription_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def number(self) -> str | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def billing_reason(self) -> str: ...
    @property
    def subtotal(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def discount_amounts(self) -> list[Any]: ...
    @property
    def amount_due(self) -> int: ...
    @property
    def amount_paid(self) -> int: ...
    @property
    def amount_remaining(self) -> int: ...
    @property
    def starting_balance(self) -> int: ...
    @property
    def ending_balance(self) -> int | None: ...
    @property
    def period_start(self) -> int: ...
    @property
    def period_end(self) -> int: ...
    @property
    def attempt_count(self) -> int: ...
    @property
    def attempted(self) -> bool: ...
    @property
    def next_payment_attempt(self) -> int | None: ...
    @property
    def finalized_at(self) -> int | None: ...
    @property
    def paid_at(self) -> int | None: ...
    @property
    def voided_at(self) -> int | None: ...
    @property
    def marked_uncollectible_at(self) -> int | None: ...
    @property
    def default_payment_method_id(self) -> str | None: ...
    @property
    def last_payment_error(self) -> dict[str, Any] | None: ...
    @property
    def test_clock_id(self) -> str | None: ...
    @property
    def lines(self) -> Sequence[LineFields]: ...


def serialize_line(line: LineFields) -> dict[str, Any]:
    discounted = sum(int(d["amount"]) for d in line.discount_amounts)
    return {
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": line.currency,
        "description": line.description,
        "discount_amounts": list(line.discount_amounts),
        "discountable": True,
        "discounts": [d["discount"] for d in line.discount_amounts],
        "invoice": line.invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": line.proration,
                "proration_details": {"credited_items": None},
                "subscription": line.subscription_id,
                "subscription_item": line.subscription_item_id,
            },
        },
        "period": {"start": line.period_start, "end": line.period_end},
        "pricing": {
            "type": "price_details",
            "price_details": {"price": line.price_id, "product": None},
            "unit_amount_decimal": str(line.amount // line.quantity) if line.quantity else None,
        },
        "quantity": line.quantity,
        "subtotal": line.amount,
        "taxes": [],
        "tenure_amount_after_discounts": line.amount - discounted,
    }


def serialize_invoice(invoice: InvoiceFields) -> dict[str, Any]:
    """The invoice as the API returns it; reads only the invoice and its loaded lines."""
    lines = [serialize_line(line) for line in invoice.lines]
    return {
        "id": invoice.id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "amount_remaining": invoice.amount_remaining,
        "amount_shipping": 0,
        "attempt_count": invoice.attempt_count,
        "attempted": invoice.attempted,
        "auto_advance": invoice.status == "open",
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None},
        "billing_reason": invoice.billing_reason,
        "collection_method": "charge_automatically",
        "created": invoice.created,
        "currency": invoice.currency,
        "customer": invoice.customer_id,
        "default_payment_method": invoice.default_payment_method_id,
        "description": None,
        "discounts": [d["discount"] for d in invoice.discount_amounts],
        "due_date": None,
        "effective_at": invoice.finalized_at,
        "ending_balance": invoice.ending_balance,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "last_finalization_error": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice.id}/lines",
        },
        "livemode": invoice.livemode,
        "metadata": dict(invoice.metadata_ or {}),
        "next_payment_attempt": invoice.next_payment_attempt,
        "number": invoice.number,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": invoice.subscription_id},
        }
        if invoice.subscription_id
        else None,
        "period_end": invoice.period_end,
        "period_start": invoice.period_start,
        "starting_balance": invoice.starting_balance,
        "status": invoice.status,
        "status_transitions": {
            "finalized_at": invoice.finalized_at,
            "marked_uncollectible_at": invoice.marked_uncollectible_at,
            "paid_at": invoice.paid_at,
            "voided_at": invoice.voided_at,
        },
        "subtotal": invoice.subtotal,
        "subtotal_excluding_tax": invoice.subtotal,
        "test_clock": invoice.test_clock_id,
        "total": invoice.total,
        "total_discount_amounts": list(invoice.discount_amounts),
        "total_excluding_tax": invoice.total,
        "total_taxes": [],
        "tenure_last_payment_error": invoice.last_payment_error,
    }
