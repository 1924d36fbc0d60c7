"""Finding a customer and its "now": shared by the customer and payment-method services.

Kept apart from `service.py` because creating a customer can attach a payment method (so the
customer service uses the payment-method service) while attaching needs to find the customer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import ResourceMissing
from tenure.customers.models import Customer
from tenure.testclocks.service import object_now


class ReferenceMissing(ResourceMissing):
    """An id given in a request parameter names nothing: Stripe answers 400 (404 is for the URL)."""

    status_code = 400


def missing(kind: str, object_id: str, *, param: str | None) -> ResourceMissing:
    """`resource_missing` for an id in the URL (`param="id"`, 404) or in a parameter (400)."""
    if param == "id":
        return ResourceMissing(kind, object_id, param=param)
    return ReferenceMissing(kind, object_id, param=param)


def get_customer(
    session: Session, customer_id: str, *, param: str | None = "customer", for_update: bool = False
) -> Customer:
    """The live customer with this id; unknown and deleted customers are both `resource_missing`
    (404 when `param` is "id", the URL's id; 400 when the id came in a request parameter)."""
    stmt = select(Customer).where(Customer.id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    customer = session.scalar(stmt)
    if customer is None or customer.deleted:
        raise missing("customer", customer_id, param=param)
    return customer


def customer_now(session: Session, customer: Customer, real_now: int) -> int:
    """The customer's current time: its test clock's frozen time if it has one, else real time."""
    return object_now(session, real_now, customer.test_clock_id)
