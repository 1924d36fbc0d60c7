from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.payments import service
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import get_processor
from tenure.payments.schemas import (
    CustomerPaymentMethodList,
    PaymentMethodAttach,
    PaymentMethodCreate,
    PaymentMethodDetach,
    PaymentMethodList,
    PaymentMethodUpdate,
    serialize_payment_method,
)

router = APIRouter(route_class=ApiRoute, tags=["payment_methods"])
BASE = "/v1/payment_methods"


def _load(session: Session, payment_method_id: str) -> dict[str, Any] | None:
    pm = session.scalar(select(PaymentMethod).where(PaymentMethod.id == payment_method_id))
    return serialize_payment_method(pm) if pm else None


register_loader("pm", _load)
register_expandable("payment_method", "customer")


@router.post(BASE)
def create_payment_method(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[PaymentMethodCreate, Depends(params_of(PaymentMethodCreate))],
    paths: ExpandDep,
) -> Response:
    pm = service.create_payment_method(
        session, params, processor=get_processor(runtime), now=runtime.clock.now()
    )
    return json_response(expand(session, serialize_payment_method(pm), paths))


@router.get(BASE)
def list_payment_methods(
    session: SessionDep,
    params: Annotated[PaymentMethodList, Depends(params_of(PaymentMethodList))],
    paths: ExpandDep,
) -> Response:
    return json_response(expand(session, service.list_payment_methods(session, params, url=BASE), paths))


@router.get(BASE + "/{payment_method_id}")
def retrieve_payment_method(session: SessionDep, payment_method_id: str, paths: ExpandDep) -> Response:
    pm = service.get_payment_method(session, payment_method_id)
    return json_response(expand(session, serialize_payment_method(pm), paths))


@router.post(BASE + "/{payment_method_id}")
def update_payment_method(
    session: SessionDep,
    runtime: RuntimeDep,
    payment_method_id: str,
    params: Annotated[PaymentMethodUpdate, Depends(params_of(PaymentMethodUpdate))],
    paths: ExpandDep,
) -> Response:
    pm = service.update_payment_method(session, payment_method_id, params, real_now=runtime.clock.now())
    return json_response(expand(session, serialize_payment_method(pm), paths))


@router.post(BASE + "/{payment_method_id}/attach")
def attach_payment_method(
    session: SessionDep,
    runtime: RuntimeDep,
    payment_method_id: str,
    params: Annotated[PaymentMethodAttach, Depends(params_of(PaymentMethodAttach))],
    paths: ExpandDep,
) -> Response:
    pm = service.attach_payment_method(
        session,
        payment_method_id,
        customer_id=params.customer,
        processor=get_processor(runtime),
        real_now=runtime.clock.now(),
    )
    return json_response(expand(session, serialize_payment_method(pm), paths))


@router.post(BASE + "/{payment_method_id}/detach")
def detach_payment_method(
    session: SessionDep,
    runtime: RuntimeDep,
    payment_method_id: str,
    _params: Annotated[PaymentMethodDetach, Depends(params_of(PaymentMethodDetach))],
    paths: ExpandDep,
) -> Response:
    pm = service.detach_payment_method(session, payment_method_id, real_now=runtime.clock.now())
    return json_response(expand(session, serialize_payment_method(pm), paths))


@router.get("/v1/customers/{customer_id}/payment_methods")
def list_customer_payment_methods(
    session: SessionDep,
    customer_id: str,
    params: Annotated[CustomerPaymentMethodList, Depends(params_of(CustomerPaymentMethodList))],
    paths: ExpandDep,
) -> Response:
    url = f"/v1/customers/{customer_id}/payment_methods"
    page = service.list_customer_payment_methods(session, customer_id, params, url=url)
    return json_response(expand(session, page, paths))


@router.get("/v1/customers/{customer_id}/payment_methods/{payment_method_id}")
def retrieve_customer_payment_method(
    session: SessionDep, customer_id: str, payment_method_id: str, paths: ExpandDep
) -> Response:
    pm = service.get_customer_payment_method(session, customer_id, payment_method_id)
    return json_response(expand(session, serialize_payment_method(pm), paths))
