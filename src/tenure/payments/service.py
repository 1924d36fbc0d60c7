"""Payment methods: create through the processor, attach to and detach from customers, update, list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.api.lists import paginate
from tenure.api.metadata import apply_metadata
from tenure.customers.lookup import customer_now, get_customer, missing
from tenure.customers.models import Customer
from tenure.customers.schemas import serialize_customer
from tenure.events.service import record_event
from tenure.ids import new_id
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import (
    PaymentMethodDetails,
    PaymentMethodType,
    PaymentProcessor,
    check_expiry,
)
from tenure.payments.schemas import (
    EMPTY_BILLING_DETAILS,
    BillingDetailsParams,
    CustomerPaymentMethodList,
    PaymentMethodCreate,
    PaymentMethodList,
    PaymentMethodUpdate,
    serialize_payment_method,
)

DetachGuard = Callable[[Session, PaymentMethod], None]

# Rules other features add to detaching (e.g. "not the default method of a past_due customer"):
# each raises a TenureError to refuse.
DETACH_GUARDS: list[DetachGuard] = []

UNEXPECTED_STATE = "payment_method_unexpected_state"


def get_payment_method(
    session: Session, payment_method_id: str, *, param: str | None = "id", for_update: bool = False
) -> PaymentMethod:
    """The payment method with this id (404 for the URL's id, 400 for one given in a parameter)."""
    stmt = select(PaymentMethod).where(PaymentMethod.id == payment_method_id)
    if for_update:
        stmt = stmt.with_for_update()
    pm = session.scalar(stmt)
    if pm is None:
        raise missing("payment_method", payment_method_id, param=param)
    return pm


def _billing_details(current: dict[str, Any] | None, update: BillingDetailsParams | None) -> dict[str, Any]:
    """Apply the given fields of `update` (an address replaces the whole address)."""
    if update is None:
        return dict(EMPTY_BILLING_DETAILS)
    merged = {**EMPTY_BILLING_DETAILS, **(current or {})}
    for name in update.model_fields_set:
        if name == "address":
            merged["address"] = update.address.as_dict() if update.address else None
        else:
            merged[name] = getattr(update, name)
    return merged


def _new_payment_method(
    session: Session,
    details: PaymentMethodDetails,
    *,
    now: int,
    billing_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> PaymentMethod:
    pm = PaymentMethod(
        id=new_id("pm"),
        created=now,
        type=details.type,
        billing_details=billing_details or dict(EMPTY_BILLING_DETAILS),
        metadata_=metadata or {},
        card_brand=details.card_brand,
        card_last4=details.card_last4,
        card_exp_month=details.card_exp_month,
        card_exp_year=details.card_exp_year,
        card_country=details.card_country,
        card_funding=details.card_funding,
        fingerprint=details.fingerprint,
        sepa_bank_code=details.sepa_bank_code,
        sepa_country=details.sepa_country,
        sepa_last4=details.sepa_last4,
        paypal_payer_email=details.paypal_payer_email,
        behaviour=details.behaviour,
    )
    session.add(pm)
    session.flush()
    return pm


def create_payment_method(
    session: Session, params: PaymentMethodCreate, *, processor: PaymentProcessor, now: int
) -> PaymentMethod:
    """A new, unattached payment method from raw details or a test token (no event, as in Stripe)."""
    for other in PaymentMethodType:
        if other != params.type and getattr(params, other) is not None:
            raise InvalidRequest(
                f"You passed a `{other}` hash, but the payment method type is `{params.type}`.", param=other
            )
    raw = getattr(params, params.type)
    if raw is None and params.type != "paypal":
        raise MissingParameter(params.type)
    details = processor.create_payment_method(
        type=params.type, details=raw.model_dump(exclude_none=True) if raw is not None else {}
    )
    billing = _billing_details(None, params.billing_details) if params.billing_details else None
    return _new_payment_method(
        session, details, now=now, billing_details=billing, metadata=apply_metadata(None, params.metadata)
    )


def payment_method_from_reference(
    session: Session, reference: str, *, processor: PaymentProcessor, now: int, param: str | None
) -> PaymentMethod:
    """The payment method `reference` names; a test token (`pm_card_visa`) makes a new one, as in Stripe."""
    details = processor.resolve_token(reference)
    if details is not None:
        return _new_payment_method(session, details, now=now)
    # Locked: two requests attaching one method to different customers must not both succeed.
    return get_payment_method(session, reference, param=param, for_update=True)


def check_attachable(pm: PaymentMethod, customer: Customer, *, param: str | None) -> None:
    if pm.detached:
        raise InvalidRequest(
            "This PaymentMethod was detached from a Customer and may not be used again.",
            param=param,
            code=UNEXPECTED_STATE,
        )
    if pm.customer_id is not None and pm.customer_id != customer.id:
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param=param,
            code=UNEXPECTED_STATE,
        )


def attach(
    session: Session, pm: PaymentMethod, customer: Customer, *, real_now: int, param: str | None = "customer"
) -> PaymentMethod:
    """Attach `pm` to `customer` (again to the same customer is a no-op, as in Stripe)."""
    check_attachable(pm, customer, param=param)
    if pm.customer_id == customer.id:
        return pm
    pm.customer_id = customer.id
    session.flush()
    record_event(
        session,
        type="payment_method.attached",
        obj=serialize_payment_method(pm),
        now=customer_now(session, customer, real_now),
    )
    return pm


def attach_payment_method(
    session: Session, reference: str, *, customer_id: str, processor: PaymentProcessor, real_now: int
) -> PaymentMethod:
    """`POST /v1/payment_methods/{id}/attach`: `reference` may be a test token, making a new method."""
    customer = get_customer(session, customer_id, param="customer")
    pm = payment_method_from_reference(session, reference, processor=processor, now=real_now, param="id")
    return attach(session, pm, customer, real_now=real_now)


def detach_payment_method(session: Session, payment_method_id: str, *, real_now: int) -> PaymentMethod:
    """Detach from its customer; the customer's default is cleared if it was this method."""
    pm = get_payment_method(session, payment_method_id, for_update=True)
    if pm.customer_id is None:
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            code=UNEXPECTED_STATE,
        )
    for guard in DETACH_GUARDS:
        guard(session, pm)
    customer = session.scalar(select(Customer).where(Customer.id == pm.customer_id))
    assert customer is not None  # the foreign key guarantees it
    now = customer_now(session, customer, real_now)
    before = serialize_payment_method(pm)
    if customer.default_payment_method_id == pm.id:
        customer_before = serialize_customer(customer)
        customer.default_payment_method_id = None
        session.flush()
        if not customer.deleted:
            record_event(
                session,
                type="customer.updated",
                obj=serialize_customer(customer),
                now=now,
                previous=customer_before,
            )
    pm.customer_id = None
    pm.detached = True
    session.flush()
    record_event(
        session, type="payment_method.detached", obj=serialize_payment_method(pm), now=now, previous=before
    )
    return pm


def update_payment_method(
    session: Session, payment_method_id: str, params: PaymentMethodUpdate, *, real_now: int
) -> PaymentMethod:
    """Billing details, metadata, and a card's expiry (which must still be in the future)."""
    pm = get_payment_method(session, payment_method_id, for_update=True)
    before = serialize_payment_method(pm)
    if params.card is not None:
        if pm.type != PaymentMethodType.CARD:
            raise InvalidRequest(
                f"You cannot update card details on a payment method of type `{pm.type}`.", param="card"
            )
        month = params.card.exp_month if params.card.exp_month is not None else pm.card_exp_month
        year = params.card.exp_year if params.card.exp_year is not None else pm.card_exp_year
        pm.card_exp_month, pm.card_exp_year = check_expiry(month, year, now=real_now)
    if "billing_details" in params.model_fields_set:
        pm.billing_details = _billing_details(pm.billing_details, params.billing_details)
    if "metadata" in params.model_fields_set:
        pm.metadata_ = apply_metadata(pm.metadata_, params.metadata)
    session.flush()
    customer = (
        session.scalar(select(Customer).where(Customer.id == pm.customer_id)) if pm.customer_id else None
    )
    record_event(
        session,
        type="payment_method.updated",
        obj=serialize_payment_method(pm),
        now=customer_now(session, customer, real_now) if customer else real_now,
        previous=before,
    )
    return pm


def list_payment_methods(session: Session, params: PaymentMethodList, *, url: str) -> dict[str, Any]:
    stmt = select(PaymentMethod)
    if params.customer is not None:
        customer = get_customer(session, params.customer, param="customer")
        stmt = stmt.where(PaymentMethod.customer_id == customer.id)
    if params.type is not None:
        stmt = stmt.where(PaymentMethod.type == params.type)
    return paginate(session, stmt, PaymentMethod, params, url=url, serialize=serialize_payment_method)


def list_customer_payment_methods(
    session: Session, customer_id: str, params: CustomerPaymentMethodList, *, url: str
) -> dict[str, Any]:
    customer = get_customer(session, customer_id, param="id")
    stmt = select(PaymentMethod).where(PaymentMethod.customer_id == customer.id)
    if params.type is not None:
        stmt = stmt.where(PaymentMethod.type == params.type)
    return paginate(session, stmt, PaymentMethod, params, url=url, serialize=serialize_payment_method)


def get_customer_payment_method(session: Session, customer_id: str, payment_method_id: str) -> PaymentMethod:
    customer = get_customer(session, customer_id, param="id")
    pm = get_payment_method(session, payment_method_id)
    if pm.customer_id != customer.id:
        raise ResourceMissing("payment_method", payment_method_id)
    return pm
