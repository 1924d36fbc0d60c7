"""Customers: search by email or name, and the customer's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, func, or_, select

from tenure.api.errors import ResourceMissing
from tenure.customers.models import Customer
from tenure.dashboard.details import customer_detail
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Reader

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 25
MAX_QUERY = 200


def customer_search(text: str) -> Select[Any]:
    """Newest first; `text` matches a part of the email or name (any case) or a whole id.

    The text is a bound parameter with LIKE wildcards escaped: it never becomes SQL.
    """
    stmt = select(Customer).where(Customer.deleted.is_(False))
    text = text.strip().lower()
    if text:
        stmt = stmt.where(
            or_(
                func.lower(Customer.email).contains(text, autoescape=True),
                func.lower(Customer.name).contains(text, autoescape=True),
                Customer.id == text,
            )
        )
    return stmt.order_by(Customer.pk.desc())


@router.get("/dashboard/customers")
def customers(
    request: Request, visit: Reader, q: str = "", page_number: Annotated[int, Query(alias="page")] = 1
) -> Response:
    query = q[:MAX_QUERY]
    number = max(1, min(page_number, 100_000))
    found = list(
        visit.db.scalars(customer_search(query).offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
    )
    return page(
        request,
        visit,
        "dashboard/customers.html",
        {
            "q": query,
            "customers": found[:PAGE_SIZE],
            "page_number": number,
            "has_next": len(found) > PAGE_SIZE,
        },
        section="customers",
    )


@router.get("/dashboard/customers/{customer_id}")
def customer(request: Request, visit: Reader, customer_id: str) -> Response:
    # Deleted customers stay visible here: their canceled subscriptions still point at them.
    found = visit.db.scalar(select(Customer).where(Customer.id == customer_id))
    if found is None:
        raise ResourceMissing("customer", customer_id)
    return page(
        request,
        visit,
        "dashboard/customer.html",
        {"d": customer_detail(visit.db, found)},
        section="customers",
    )
