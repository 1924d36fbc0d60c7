"""Coupons and promotion codes: list, create, archive (through the same services as the API)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure import money
from tenure.api.errors import InvalidRequest, TenureError
from tenure.api.params import validate
from tenure.coupons import service
from tenure.coupons.models import Coupon, PromotionCode
from tenure.coupons.schemas import CouponCreate, PromotionCodeCreate, PromotionCodeUpdate
from tenure.dashboard.actions import record_action
from tenure.dashboard.errors import DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.visit import Form, Operator, Posted, Reader, StaffVisit

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
COUPON_FIELDS = ("id", "name", "percent_off", "amount_off", "currency", "duration", "duration_in_months")
NOTICES = {
    "coupon_created": "The coupon was created.",
    "coupon_archived": "The coupon was archived: no new redemptions; granted discounts keep working.",
    "code_created": "The promotion code was created.",
    "code_archived": "The promotion code was deactivated.",
}


def minor_units(text: str, currency: str | None, *, param: str) -> int | None:
    """ "12.50" EUR -> 1250: amounts are typed in major units, as printed on invoices."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = Decimal(text).scaleb(money.exponent(currency or "usd"))
    except InvalidOperation:
        raise InvalidRequest("Type an amount such as 5 or 12.50.", param=param) from None
    if value != value.to_integral_value() or value <= 0:
        raise InvalidRequest("Type a positive amount with at most the currency's decimals.", param=param)
    return int(value)


def coupon_params(form: Posted, *, prefix: str = "") -> CouponCreate:
    """A `CouponCreate` from the coupon form (`prefix` tells the inline form's fields apart)."""
    field = {name: form.get(prefix + name).strip() for name in COUPON_FIELDS}
    kind = form.get(prefix + "kind", "percent")
    data: dict[str, Any] = {
        "id": field["id"] or None,
        "name": field["name"] or None,
        "duration": field["duration"] or "once",
    }
    if field["duration_in_months"] and data["duration"] == "repeating":
        data["duration_in_months"] = field["duration_in_months"]
    if kind == "amount":
        currency = field["currency"].lower() or None
        data["currency"] = currency
        data["amount_off"] = minor_units(field["amount_off"], currency, param="amount_off")
    else:
        data["percent_off"] = field["percent_off"] or None
    return validate(CouponCreate, {k: v for k, v in data.items() if v is not None})


def create_coupon(visit: StaffVisit, form: Posted, *, prefix: str = "") -> Coupon:
    """Create a coupon from the form and note it in the audit trail."""
    coupon = service.create_coupon(visit.db, coupon_params(form, prefix=prefix), now=visit.now)
    record_action(
        visit.db, visit.staff, action="coupon.create", object_id=coupon.id, at=visit.now, now=visit.now
    )
    return coupon


def _page(
    request: Request,
    visit: StaffVisit,
    *,
    notice: str | None = None,
    error: tuple[str, str, str | None] | None = None,
    form: Posted | None = None,
    status_code: int = 200,
) -> Response:
    coupons = list(visit.db.scalars(select(Coupon).order_by(Coupon.deleted, Coupon.pk.desc()).limit(200)))
    codes = list(visit.db.scalars(select(PromotionCode).order_by(PromotionCode.pk.desc()).limit(200)))
    return page(
        request,
        visit,
        "dashboard/coupons.html",
        {
            "coupons": coupons,
            "codes": codes,
            "now": visit.now,
            "notice": NOTICES.get(notice or ""),
            "error": error,  # (form, message, param)
            "posted": form or Posted([]),
        },
        section="coupons",
        status_code=status_code,
    )


@router.get("/dashboard/coupons")
def coupons(request: Request, visit: Reader, notice: str = "") -> Response:
    return _page(request, visit, notice=notice)


def _done(notice: str) -> Response:
    return RedirectResponse(f"/dashboard/coupons?notice={notice}", status_code=303)


def _refused(request: Request, visit: StaffVisit, form: Posted, which: str, exc: TenureError) -> Response:
    visit.db.rollback()
    return _page(request, visit, error=(which, exc.message, exc.param), form=form, status_code=400)


@router.post("/dashboard/coupons")
def create(request: Request, visit: Operator, form: Form) -> Response:
    visit.check_csrf(form)
    try:
        create_coupon(visit, form)
    except TenureError as exc:
        return _refused(request, visit, form, "coupon", exc)
    visit.db.commit()
    return _done("coupon_created")


@router.post("/dashboard/coupons/{coupon_id}/archive")
def archive(visit: Operator, form: Form, coupon_id: str) -> Response:
    visit.check_csrf(form)
    service.delete_coupon(visit.db, coupon_id, now=visit.now)
    record_action(
        visit.db, visit.staff, action="coupon.archive", object_id=coupon_id, at=visit.now, now=visit.now
    )
    visit.db.commit()
    return _done("coupon_archived")


@router.post("/dashboard/promotion-codes")
def create_code(request: Request, visit: Operator, form: Form) -> Response:
    visit.check_csrf(form)
    data: dict[str, Any] = {"promotion": {"type": "coupon", "coupon": form.get("coupon").strip()}}
    if form.get("code").strip():
        data["code"] = form.get("code").strip()
    if form.get("max_redemptions").strip():
        data["max_redemptions"] = form.get("max_redemptions").strip()
    try:
        code = service.create_promotion_code(visit.db, validate(PromotionCodeCreate, data), now=visit.now)
        record_action(
            visit.db,
            visit.staff,
            action="promotion_code.create",
            object_id=code.id,
            at=visit.now,
            now=visit.now,
        )
    except TenureError as exc:
        return _refused(request, visit, form, "code", exc)
    visit.db.commit()
    return _done("code_created")


@router.post("/dashboard/promotion-codes/{code_id}/archive")
def archive_code(visit: Operator, form: Form, code_id: str) -> Response:
    visit.check_csrf(form)
    service.update_promotion_code(visit.db, code_id, PromotionCodeUpdate(active=False), now=visit.now)
    record_action(
        visit.db, visit.staff, action="promotion_code.archive", object_id=code_id, at=visit.now, now=visit.now
    )
    visit.db.commit()
    return _done("code_archived")
