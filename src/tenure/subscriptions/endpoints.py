from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.deps import ExpandDep, RuntimeDep, SessionDep, params_of
from tenure.api.expand import expand, register_expandable, register_loader
from tenure.api.lists import paginate
from tenure.api.responses import json_response
from tenure.api.route import ApiRoute
from tenure.billing_context import BillingContext
from tenure.subscriptions import service
from tenure.subscriptions.common import get_subscription
from tenure.subscriptions.models import Discount, Subscription
from tenure.subscriptions.schemas import (
    SubscriptionCancel,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionResume,
    SubscriptionUpdate,
    serialize_discount,
    serialize_subscription,
)

router = APIRouter(prefix="/v1/subscriptions", route_class=ApiRoute, tags=["subscriptions"])
BASE = "/v1/subscriptions"


def _load_subscription(session: Session, subscription_id: str) -> dict[str, Any] | None:
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    return serialize_subscription(session, subscription) if subscription else None


def _load_discount(session: Session, discount_id: str) -> dict[str, Any] | None:
    discount = session.scalar(select(Discount).where(Discount.id == discount_id))
    return serialize_discount(discount) if discount else None


register_loader("sub", _load_subscription)
register_loader("di", _load_discount)
register_expandable(
    "subscription", "customer", "default_payment_method", "latest_invoice", "test_clock", "discounts"
)
register_expandable("discount", "customer", "subscription", "promotion_code")


def _respond(session: Session, subscription: Subscription, paths: list[str]) -> Response:
    return json_response(expand(session, serialize_subscription(session, subscription), paths))


@router.post("")
def create(
    session: SessionDep,
    runtime: RuntimeDep,
    paths: ExpandDep,
    params: Annotated[SubscriptionCreate, Depends(params_of(SubscriptionCreate))],
) -> Response:
    subscription = service.create_subscription(
        session, params, real_now=runtime.clock.now(), context=BillingContext.of(runtime)
    )
    return _respond(session, subscription, paths)


@router.get("")
def list_subscriptions(
    session: SessionDep,
    paths: ExpandDep,
    params: Annotated[SubscriptionList, Depends(params_of(SubscriptionList))],
) -> Response:
    page = paginate(
        session,
        service.list_query(params),
        Subscription,
        params,
        url=BASE,
        serialize=lambda s: serialize_subscription(session, s),
    )
    return json_response(expand(session, page, paths))


@router.get("/{subscription_id}")
def retrieve(session: SessionDep, subscription_id: str, paths: ExpandDep) -> Response:
    return _respond(session, get_subscription(session, subscription_id), paths)


@router.post("/{subscription_id}")
def update(
    session: SessionDep,
    runtime: RuntimeDep,
    subscription_id: str,
    paths: ExpandDep,
    params: Annotated[SubscriptionUpdate, Depends(params_of(SubscriptionUpdate))],
) -> Response:
    subscription = service.update(
        session, subscription_id, params, real_now=runtime.clock.now(), context=BillingContext.of(runtime)
    )
    return _respond(session, subscription, paths)


@router.delete("/{subscription_id}")
def cancel(
    session: SessionDep,
    runtime: RuntimeDep,
    subscription_id: str,
    paths: ExpandDep,
    params: Annotated[SubscriptionCancel, Depends(params_of(SubscriptionCancel))],
) -> Response:
    return _respond(
        session, service.cancel(session, subscription_id, params, real_now=runtime.clock.now()), paths
    )


@router.post("/{subscription_id}/resume")
def resume(
    session: SessionDep,
    runtime: RuntimeDep,
    subscription_id: str,
    paths: ExpandDep,
    params: Annotated[SubscriptionResume, Depends(params_of(SubscriptionResume))],
) -> Response:
    return _respond(
        session, service.resume(session, subscription_id, params, real_now=runtime.clock.now()), paths
    )


@router.delete("/{subscription_id}/discount")
def delete_discount(session: SessionDep, runtime: RuntimeDep, subscription_id: str) -> Response:
    service.delete_discount(session, subscription_id, real_now=runtime.clock.now())
    return json_response({"object": "discount", "deleted": True})
