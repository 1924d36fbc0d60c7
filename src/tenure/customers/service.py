"""Customers: create (optionally with a payment method), update, delete, list."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.api.lists import apply_range, paginate
from tenure.api.metadata import apply_metadata
from tenure.customers.lookup import customer_now as customer_now
from tenure.customers.lookup import get_customer as get_customer
from tenure.customers.lookup import missing
from tenure.customers.models import Customer
from tenure.customers.schemas import CustomerCreate, CustomerList, CustomerUpdate, serialize_customer
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.payments import service as payment_methods
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import PaymentProcessor
from tenure.testclocks.advance import register_delete_hook
from tenure.testclocks.models import TestClock

DeleteHook = Callable[[Session, Customer, int], None]

# Work other features do when a customer is deleted (e.g. cancel its subscriptions), called with
# the customer's current time before it is marked deleted.
DELETE_HOOKS: list[DeleteHook] = []

_PREFIX_ALPHABET = string.ascii_uppercase + string.digits
DEFAULT_PM_PARAM = "invoice_settings[default_payment_method]"


def _new_invoice_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))


def _test_clock(session: Session, clock_id: str) -> TestClock:
    clock = session.scalar(select(TestClock).where(TestClock.id == clock_id))
    if clock is None:
        raise missing("test clock", clock_id, param="test_clock")
    return clock


def _not_attached(reference: str) -> InvalidRequest:
    return InvalidRequest(
        f"The customer does not have a payment method with the ID {reference}. "
        "The payment method must be attached to the customer.",
        param=DEFAULT_PM_PARAM,
        code="resource_missing",
    )


def create_customer(
    session: Session, params: CustomerCreate, *, processor: PaymentProcessor, real_now: int
) -> Customer:
    """A new customer; `payment_method` is attached, and is the default only if named in
    `invoice_settings[default_payment_method]` (as in Stripe)."""
    clock = _test_clock(session, params.test_clock) if params.test_clock else None
    now = clock.frozen_time if clock else real_now
    customer = Customer(
        id=new_id("cus"),
        created=now,
        email=params.email,
        name=params.name,
        phone=params.phone,
        description=params.description,
        address=params.address.as_dict() if params.address else None,
        preferred_locales=params.preferred_locales or [],
        balance=params.balance or 0,
        invoice_prefix=params.invoice_prefix or _new_invoice_prefix(),
        next_invoice_sequence=params.next_invoice_sequence or 1,
        metadata_=apply_metadata(None, params.metadata),
        marketing_opt_out=bool(params.tenure_marketing_opt_out),
        test_clock_id=clock.id if clock else None,
    )
    session.add(customer)
    session.flush()

    pm = None
    if params.payment_method:
        pm = payment_methods.payment_method_from_reference(
            session, params.payment_method, processor=processor, now=real_now, param="payment_method"
        )
        payment_methods.check_attachable(pm, customer, param="payment_method")
    default = params.invoice_settings.default_payment_method if params.invoice_settings else None
    if default is not None:
        # The one method a new customer can have is the one attached in this same request.
        if pm is None or default not in (params.payment_method, pm.id):
            raise _not_attached(default)
        customer.default_payment_method_id = pm.id
        session.flush()
    record_event(session, type="customer.created", obj=serialize_customer(customer), now=now)
    if pm is not None:
        payment_methods.attach(session, pm, customer, real_now=real_now, param="payment_method")
    return customer


def update_customer(session: Session, customer_id: str, params: CustomerUpdate, *, real_now: int) -> Customer:
    """Apply the given fields (`""` unsets); the default payment method must be attached to the customer."""
    customer = get_customer(session, customer_id, param="id")
    before = serialize_customer(customer)
    given = params.model_fields_set
    for name in ("email", "name", "phone", "description"):
        if name in given:
            setattr(customer, name, getattr(params, name))
    if "address" in given:
        customer.address = params.address.as_dict() if params.address else None
    if "balance" in given:
        customer.balance = params.balance or 0
    if "preferred_locales" in given:
        customer.preferred_locales = params.preferred_locales or []
    if params.invoice_prefix is not None:
        customer.invoice_prefix = params.invoice_prefix
    if params.next_invoice_sequence is not None:
        customer.next_invoice_sequence = params.next_invoice_sequence
    if params.tenure_marketing_opt_out is not None:
        customer.marketing_opt_out = params.tenure_marketing_opt_out
    if "metadata" in given:
        customer.metadata_ = apply_metadata(customer.metadata_, params.metadata)
    if "invoice_settings" in given:
        settings = params.invoice_settings
        if settings is None:
            customer.default_payment_method_id = None
        elif "default_payment_method" in settings.model_fields_set:
            customer.default_payment_method_id = _attached_default(
                session, customer, settings.default_payment_method
            )
    session.flush()
    record_event(
        session,
        type="customer.updated",
        obj=serialize_customer(customer),
        now=customer_now(session, customer, real_now),
        previous=before,
    )
    return customer


def _attached_default(session: Session, customer: Customer, reference: str | None) -> str | None:
    if reference is None:
        return None
    pm = session.scalar(select(PaymentMethod).where(PaymentMethod.id == reference))
    if pm is None or pm.customer_id != customer.id:
        raise _not_attached(reference)
    return pm.id


def delete_customer(session: Session, customer_id: str, *, real_now: int) -> Customer:
    """Mark deleted: Stripe keeps a deleted customer retrievable as `{id, object, deleted: true}`."""
    customer = get_customer(session, customer_id, param="id", for_update=True)
    now = customer_now(session, customer, real_now)
    for hook in DELETE_HOOKS:
        hook(session, customer, now)
    obj = serialize_customer(customer)
    customer.deleted = True
    session.flush()
    record_event(session, type="customer.deleted", obj=obj, now=now)
    return customer


def retrieve_customer(session: Session, customer_id: str) -> Customer:
    """A customer, deleted ones included (they serialize as a stub)."""
    customer = session.scalar(select(Customer).where(Customer.id == customer_id))
    if customer is None:
        raise missing("customer", customer_id, param="id")
    return customer


def list_customers(session: Session, params: CustomerList, *, url: str) -> dict[str, Any]:
    """Live customers, newest first; those on a test clock only when `test_clock` asks for them."""
    stmt = select(Customer).where(Customer.deleted.is_(False))
    if params.test_clock is not None:
        stmt = stmt.where(Customer.test_clock_id == _test_clock(session, params.test_clock).id)
    else:
        stmt = stmt.where(Customer.test_clock_id.is_(None))
    if params.email is not None:
        stmt = stmt.where(Customer.email == params.email)
    stmt = apply_range(stmt, Customer.created, params.created)
    return paginate(session, stmt, Customer, params, url=url, serialize=serialize_customer)


def delete_clock_customers(session: Session, clock: TestClock) -> None:
    """A deleted test clock takes its customers (and their payment methods) with it."""
    customers = list(session.scalars(select(Customer).where(Customer.test_clock_id == clock.id)))
    for customer in customers:
        if not customer.deleted:
            record_event(
                session, type="customer.deleted", obj=serialize_customer(customer), now=clock.frozen_time
            )
    ids = [customer.id for customer in customers]
    if ids:
        session.execute(delete(PaymentMethod).where(PaymentMethod.customer_id.in_(ids)))
        for customer in customers:
            session.delete(customer)
        session.flush()


register_delete_hook(delete_clock_customers)
