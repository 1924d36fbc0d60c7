from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.customers import service
from tenure.customers.models import Customer
from tenure.customers.schemas import (
    CustomerCreate,
    CustomerList,
    CustomerUpdate,
    serialize_customer,
    serialize_customer_or_deleted,
    serialize_deleted_customer,
)
from tenure.payments.processor import get_processor

router = APIRouter(prefix="/v1/customers", route_class=ApiRoute, tags=["customers"])
BASE = "/v1/customers"


def _load(session: Session, customer_id: str) -> dict[str, Any] | None:
    customer = session.scalar(select(Customer).where(Customer.id == customer_id))
    return serialize_customer_or_deleted(customer) if customer else None


register_loader("cus", _load)
register_expandable("customer", "test_clock", "invoice_settings.default_payment_method")


@router.post("")
def create_customer(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[CustomerCreate, Depends(params_of(CustomerCreate))],
    paths: ExpandDep,
) -> Response:
    customer = service.create_customer(
        session, params, processor=get_processor(runtime), real_now=runtime.clock.now()
    )
    return json_response(expand(session, serialize_customer(customer), paths))


@router.get("")
def list_customers(
    session: SessionDep,
    params: Annotated[CustomerList, Depends(params_of(CustomerList))],
    paths: ExpandDep,
) -> Response:
    return json_response(expand(session, service.list_customers(session, params, url=BASE), paths))


@router.get("/{customer_id}")
def retrieve_customer(session: SessionDep, customer_id: str, paths: ExpandDep) -> Response:
    customer = service.retrieve_customer(session, customer_id)
    return json_response(expand(session, serialize_customer_or_deleted(customer), paths))


@router.post("/{customer_id}")
def update_customer(
    session: SessionDep,
    runtime: RuntimeDep,
    customer_id: str,
    params: Annotated[CustomerUpdate, Depends(params_of(CustomerUpdate))],
    paths: ExpandDep,
) -> Response:
    customer = service.update_customer(session, customer_id, params, real_now=runtime.clock.now())
    return json_response(expand(session, serialize_customer(customer), paths))


@router.delete("/{customer_id}")
def delete_customer(session: SessionDep, runtime: RuntimeDep, customer_id: str) -> Response:
    customer = service.delete_customer(session, customer_id, real_now=runtime.clock.now())
    return json_response(serialize_deleted_customer(customer))
