from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.errors import CardError, InvalidRequest
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.lists import apply_range, paginate
from tenure.api.responses import error_response, json_response
from tenure.api.route import ApiRoute
from tenure.billing_context import BillingContext
from tenure.customers.service import get_customer
from tenure.invoices import preview
from tenure.invoices.models import Invoice, InvoiceStatus
from tenure.invoices.schemas import InvoiceList, InvoicePay, InvoicePreview, InvoiceVoid, serialize_invoice
from tenure.invoices.service import attempt_payment, get_invoice, void_invoice
from tenure.subscriptions.common import get_subscription, recording_update, subscription_now
from tenure.subscriptions.create import owned_payment_method
from tenure.subscriptions.models import Subscription, SubscriptionStatus
from tenure.testclocks.service import object_now

router = APIRouter(prefix="/v1/invoices", route_class=ApiRoute, tags=["invoices"])
BASE = "/v1/invoices"


def _load(session: Session, invoice_id: str) -> dict[str, Any] | None:
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id))
    return serialize_invoice(invoice) if invoice else None


register_loader("in", _load)
register_expandable("invoice", "customer", "default_payment_method", "test_clock", "discounts")


def _respond(session: Session, invoice: Invoice, paths: list[str]) -> Response:
    return json_response(expand(session, serialize_invoice(invoice), paths))


@router.get("")
def list_invoices(
    session: SessionDep, paths: ExpandDep, params: Annotated[InvoiceList, Depends(params_of(InvoiceList))]
) -> Response:
    stmt = select(Invoice)
    if params.customer:
        stmt = stmt.where(Invoice.customer_id == params.customer)
    if params.subscription:
        stmt = stmt.where(Invoice.subscription_id == params.subscription)
    if params.status:
        stmt = stmt.where(Invoice.status == params.status)
    stmt = apply_range(stmt, Invoice.created, params.created)
    return json_response(
        expand(
            session, paginate(session, stmt, Invoice, params, url=BASE, serialize=serialize_invoice), paths
        )
    )


@router.api_route("/upcoming", methods=["GET"])
@router.post("/create_preview")
def create_preview(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[InvoicePreview, Depends(params_of(InvoicePreview))],
) -> Response:
    """The next invoice of a subscription, computed and not saved."""
    if not params.subscription and not params.customer:
        raise InvalidRequest("Missing required param: customer.", param="customer", code="parameter_missing")
    if params.subscription:
        subscription = get_subscription(session, params.subscription)
    else:
        assert params.customer is not None
        customer = get_customer(session, params.customer)
        found = session.scalar(
            select(Subscription)
            .where(
                Subscription.customer_id == customer.id,
                Subscription.status.not_in(
                    [SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED]
                ),
            )
            .order_by(Subscription.pk.desc())
        )
        if found is None:
            raise InvalidRequest(
                "The customer has no upcoming invoice.", param="customer", code="invoice_upcoming_none"
            )
        subscription = found
    if params.customer and subscription.customer_id != params.customer:
        raise InvalidRequest("The subscription belongs to another customer.", param="subscription")
    result = preview.upcoming_invoice(session, subscription)
    return json_response(expand(session, result, paths))


@router.get("/{invoice_id}")
def retrieve(session: SessionDep, invoice_id: str, paths: ExpandDep) -> Response:
    return _respond(session, get_invoice(session, invoice_id), paths)


@router.post("/{invoice_id}/pay")
def pay(
    session: SessionDep,
    runtime: RuntimeDep,
    invoice_id: str,
    paths: ExpandDep,
    params: Annotated[InvoicePay, Depends(params_of(InvoicePay))],
) -> Response:
    invoice = get_invoice(session, invoice_id, for_update=True)
    if invoice.status != InvoiceStatus.OPEN:
        raise InvalidRequest(
            f"Invoice is already {invoice.status}.", param="invoice", code="invoice_not_open"
        )
    subscription = get_subscription(session, invoice.subscription_id) if invoice.subscription_id else None
    now = (
        subscription_now(session, subscription, runtime.clock.now())
        if subscription
        else object_now(session, runtime.clock.now(), invoice.test_clock_id)
    )
    method = None
    if params.payment_method:
        customer = get_customer(session, invoice.customer_id)
        method = owned_payment_method(session, customer, params.payment_method, param="payment_method")
    context = BillingContext.of(runtime)
    paid = attempt_payment(
        session, invoice, subscription=subscription, context=context, now=now, payment_method=method
    )
    if (
        paid
        and subscription is not None
        and subscription.status
        in (
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.INCOMPLETE,
            SubscriptionStatus.UNPAID,
        )
    ):
        with recording_update(session, subscription, now=now):
            subscription.status = SubscriptionStatus.ACTIVE
    if not paid:
        # Answered (not raised) so that ApiRoute still commits the failed attempt and its event.
        error = invoice.last_payment_error or {}
        return error_response(
            CardError(str(error.get("message") or "Your card was declined."), code="card_declined")
        )
    return _respond(session, invoice, paths)


@router.post("/{invoice_id}/void")
def void(
    session: SessionDep,
    runtime: RuntimeDep,
    invoice_id: str,
    paths: ExpandDep,
    params: Annotated[InvoiceVoid, Depends(params_of(InvoiceVoid))],
) -> Response:
    invoice = get_invoice(session, invoice_id, for_update=True)
    void_invoice(session, invoice, now=object_now(session, runtime.clock.now(), invoice.test_clock_id))
    return _respond(session, invoice, paths)
