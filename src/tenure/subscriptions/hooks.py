"""How subscriptions react to changes elsewhere: payment methods detached, customers updated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest
from tenure.customers.models import Customer
from tenure.events.models import Event
from tenure.payments.models import PaymentMethod
from tenure.subscriptions.common import latest_open_invoice, refresh_next_action
from tenure.subscriptions.models import Subscription, SubscriptionStatus

_OWING = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID, SubscriptionStatus.INCOMPLETE)


def refuse_detaching_default_of_owing_customer(session: Session, method: PaymentMethod) -> None:
    """A customer who owes money keeps the payment method their retries will use."""
    if method.customer_id is None:
        return
    customer = session.scalar(select(Customer).where(Customer.id == method.customer_id))
    owing = session.scalar(
        select(Subscription.id).where(
            Subscription.customer_id == method.customer_id, Subscription.status.in_(_OWING)
        )
    )
    if customer is not None and owing is not None and customer.default_payment_method_id == method.id:
        raise InvalidRequest(
            "This payment method is the default of a customer with a past due subscription; "
            "set another default payment method first.",
            param="payment_method",
            code="payment_method_in_use",
        )


def retry_after_payment_method_change(session: Session, event: Event) -> None:
    """A new default payment method on a customer makes their open invoices due for a retry now;
    the billing runner (which holds the payment processor) collects them on its next pass."""
    if event.type != "customer.updated":
        return
    previous = event.data.get("previous_attributes", {})
    if "default_payment_method" not in (previous.get("invoice_settings") or {}):
        return
    customer_id = event.data["object"]["id"]
    for subscription in session.scalars(
        select(Subscription).where(Subscription.customer_id == customer_id, Subscription.status.in_(_OWING))
    ):
        invoice = latest_open_invoice(session, subscription)
        if invoice is not None:
            invoice.next_payment_attempt = event.created
            refresh_next_action(session, subscription)
    session.flush()
