"""`/v1/coupons` and `/v1/promotion_codes`."""

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
from tenure.clock import SystemClock
from tenure.coupons import service
from tenure.coupons.models import Coupon, PromotionCode
from tenure.coupons.schemas import (
    CouponCreate,
    CouponList,
    CouponUpdate,
    PromotionCodeCreate,
    PromotionCodeList,
    PromotionCodeUpdate,
    serialize_coupon,
    serialize_promotion_code,
)
from tenure.products.api_support import expand_field, reject_nul_bytes

COUPONS = "/v1/coupons"
PROMOTION_CODES = "/v1/promotion_codes"
GUARDS = [Depends(reject_nul_bytes)]
coupons_router = APIRouter(prefix=COUPONS, route_class=ApiRoute, tags=["coupons"], dependencies=GUARDS)
promotion_codes_router = APIRouter(
    prefix=PROMOTION_CODES, route_class=ApiRoute, tags=["promotion_codes"], dependencies=GUARDS
)


def load_promotion_code(session: Session, promotion_code_id: str) -> dict[str, Any] | None:
    found = session.scalar(select(PromotionCode).where(PromotionCode.id == promotion_code_id))
    return serialize_promotion_code(found, SystemClock().now()) if found else None


# Coupon ids have no prefix, so coupons get no loader: `promotion.coupon` is expanded below.
register_loader("promo", load_promotion_code)
register_expandable("promotion_code", "customer")


# --- coupons -------------------------------------------------------------------------------------


@coupons_router.post("")
def create_coupon(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[CouponCreate, Depends(params_of(CouponCreate))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    coupon = service.create_coupon(session, params, now=now)
    return json_response(expand(session, serialize_coupon(coupon, now), paths))


@coupons_router.get("")
def list_coupons(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[CouponList, Depends(params_of(CouponList))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    page = paginate(
        session,
        service.coupon_query(params),
        Coupon,
        params,
        url=COUPONS,
        serialize=lambda coupon: serialize_coupon(coupon, now),
    )
    return json_response(expand(session, page, paths))


@coupons_router.get("/{coupon_id}")
def retrieve_coupon(session: SessionDep, runtime: RuntimeDep, coupon_id: str, paths: ExpandDep) -> Response:
    coupon = service.get_coupon(session, coupon_id, param="id")
    return json_response(expand(session, serialize_coupon(coupon, runtime.clock.now()), paths))


@coupons_router.post("/{coupon_id}")
def update_coupon(
    session: SessionDep,
    runtime: RuntimeDep,
    coupon_id: str,
    params: Annotated[CouponUpdate, Depends(params_of(CouponUpdate))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    coupon = service.update_coupon(session, coupon_id, params, now=now)
    return json_response(expand(session, serialize_coupon(coupon, now), paths))


@coupons_router.delete("/{coupon_id}")
def delete_coupon(session: SessionDep, runtime: RuntimeDep, coupon_id: str) -> Response:
    deleted = service.delete_coupon(session, coupon_id, now=runtime.clock.now())
    return json_response({"id": deleted, "object": "coupon", "deleted": True})


# --- promotion codes -----------------------------------------------------------------------------


def _expanded(session: Session, obj: dict[str, Any], paths: list[str], now: int) -> dict[str, Any]:
    def load_coupon(session: Session, coupon_id: str) -> dict[str, Any] | None:
        coupon = session.scalar(select(Coupon).where(Coupon.id == coupon_id))
        return serialize_coupon(coupon, now) if coupon else None

    expand_field(session, obj, paths, "promotion.coupon", load_coupon)
    return expand(session, obj, paths)


@promotion_codes_router.post("")
def create_promotion_code(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[PromotionCodeCreate, Depends(params_of(PromotionCodeCreate))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    promotion_code = service.create_promotion_code(session, params, now=now)
    return json_response(_expanded(session, serialize_promotion_code(promotion_code, now), paths, now))


@promotion_codes_router.get("")
def list_promotion_codes(
    session: SessionDep,
    runtime: RuntimeDep,
    params: Annotated[PromotionCodeList, Depends(params_of(PromotionCodeList))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    page = paginate(
        session,
        service.promotion_code_query(params),
        PromotionCode,
        params,
        url=PROMOTION_CODES,
        serialize=lambda promotion_code: serialize_promotion_code(promotion_code, now),
    )
    return json_response(_expanded(session, page, paths, now))


@promotion_codes_router.get("/{promotion_code_id}")
def retrieve_promotion_code(
    session: SessionDep, runtime: RuntimeDep, promotion_code_id: str, paths: ExpandDep
) -> Response:
    now = runtime.clock.now()
    promotion_code = service.get_promotion_code(session, promotion_code_id)
    return json_response(_expanded(session, serialize_promotion_code(promotion_code, now), paths, now))


@promotion_codes_router.post("/{promotion_code_id}")
def update_promotion_code(
    session: SessionDep,
    runtime: RuntimeDep,
    promotion_code_id: str,
    params: Annotated[PromotionCodeUpdate, Depends(params_of(PromotionCodeUpdate))],
    paths: ExpandDep,
) -> Response:
    now = runtime.clock.now()
    promotion_code = service.update_promotion_code(session, promotion_code_id, params, now=now)
    return json_response(_expanded(session, serialize_promotion_code(promotion_code, now), paths, now))
