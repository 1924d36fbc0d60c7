"""Portal settings, without code: cancellation, reasons, retention offers, branding, texts; a coupon
created inline; "preview as a customer". Saved through the configuration service the API uses."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from tenure.api.errors import InvalidRequest, TenureError
from tenure.api.params import validate
from tenure.audit.service import changed_fields
from tenure.coupons.models import Coupon
from tenure.customers.models import Customer
from tenure.dashboard.actions import record_action
from tenure.dashboard.coupons import create_coupon
from tenure.dashboard.details import valid_coupons
from tenure.dashboard.errors import LOCALE, DashboardRoute
from tenure.dashboard.rendering import page
from tenure.dashboard.settings_form import (
    LOCALE_NAMES,
    OFFER_TYPE_LABELS,
    SettingsState,
    field_for,
    state_from_form,
    state_of,
    text_label,
    to_params,
)
from tenure.dashboard.visit import Form, Posted, SettingsAdmin, StaffVisit
from tenure.portal.config_schemas import ConfigurationCreate, ConfigurationUpdate, serialize_configuration
from tenure.portal.config_service import (
    create_configuration,
    effective_configuration,
    get_configuration,
    update_configuration,
)
from tenure.portal.models import PORTAL_LOCALES, TEXT_KEYS, PortalConfiguration
from tenure.portal.session_schemas import SessionCreate
from tenure.portal.session_service import create_portal_session
from tenure.prices.models import Price
from tenure.products.models import Product
from tenure.retention.reasons import LABELS, STANDARD_REASONS
from tenure.subscriptions.models import Subscription, SubscriptionStatus
from tenure.web.i18n import format_money

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = "/dashboard/settings/portal"
PREVIEWABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


def _configuration(visit: StaffVisit, configuration_id: str | None) -> PortalConfiguration | None:
    """The one named, else the default one (None before any exists: the form shows the defaults)."""
    if configuration_id:
        return get_configuration(visit.db, configuration_id)
    return visit.db.scalar(select(PortalConfiguration).where(PortalConfiguration.is_default.is_(True)))


def _coupon_choices(visit: StaffVisit, state: SettingsState) -> list[tuple[str, str]]:
    choices = [(c.id, _coupon_label(c)) for c in valid_coupons(visit.db, now=visit.now)]
    wanted = {state.retention_coupon, *(o["value"] for o in state.offers.values() if o["type"] == "coupon")}
    for coupon_id in sorted(wanted - {c for c, _ in choices} - {""}):
        found = visit.db.scalar(select(Coupon).where(Coupon.id == coupon_id))
        choices.append((coupon_id, (_coupon_label(found) if found else coupon_id) + " (no longer valid)"))
    return choices


def _coupon_label(coupon: Coupon) -> str:
    if coupon.percent_off is not None:
        off = f"{float(coupon.percent_off):g}% off"
    else:
        off = f"{format_money(coupon.amount_off or 0, coupon.currency or 'usd', LOCALE)} off"
    months = f" for {coupon.duration_in_months} months" if coupon.duration == "repeating" else ""
    return f"{coupon.name or coupon.id} — {off}, {coupon.duration}{months} ({coupon.id})"


def _render(
    request: Request,
    visit: StaffVisit,
    state: SettingsState,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    posted: Posted | None = None,
    coupon_open: bool = False,
    status_code: int = 200,
) -> Response:
    configurations = list(
        visit.db.scalars(select(PortalConfiguration).order_by(PortalConfiguration.pk).limit(100))
    )
    prices = visit.db.execute(
        select(Price, Product)
        .join(Product, Product.id == Price.product_id)
        .where(Price.active.is_(True), Price.recurring_interval.is_not(None))
        .order_by(Product.name, Price.unit_amount)
        .limit(300)
    ).all()
    context: dict[str, Any] = {
        "state": state,
        "errors": errors or {},
        "notice": notice,
        "posted": posted or Posted([]),
        "coupon_open": coupon_open,
        "configurations": configurations,
        "coupons": _coupon_choices(visit, state),
        "prices": [(p.id, f"{prod.name}{' · ' + p.nickname if p.nickname else ''}") for p, prod in prices],
        "standard": [(code, LABELS[code]["en"]) for code in STANDARD_REASONS],
        "labels": {code: LABELS[code]["en"] for code in STANDARD_REASONS},
        "offer_types": OFFER_TYPE_LABELS,
        "locales": [(loc, LOCALE_NAMES[loc]) for loc in PORTAL_LOCALES],
        "text_keys": [(key, text_label(key)) for key in TEXT_KEYS],
    }
    return page(
        request, visit, "dashboard/portal_settings.html", context, section="settings", status_code=status_code
    )


def _audit_summary(before: dict[str, Any] | None, saved: PortalConfiguration) -> dict[str, Any]:
    """A creation, or the names of the fields a save changed (`updated` moves with any change)."""
    if before is None:
        return {"created": True}
    after = serialize_configuration(saved)
    return {"changed": [f for f in changed_fields(before, after) if f != "updated"]}


@router.get(BASE)
def settings(request: Request, visit: SettingsAdmin, configuration: str = "", notice: str = "") -> Response:
    found = _configuration(visit, configuration or None)
    return _render(
        request,
        visit,
        state_of(found),
        notice="Settings saved: the portal uses them from now on." if notice == "saved" else None,
    )


@router.post(BASE)
def save(request: Request, visit: SettingsAdmin, form: Form) -> Response:
    visit.check_csrf(form)
    found = _configuration(visit, form.get("configuration") or None)
    stored = state_of(found)
    state = state_from_form(form, stored)
    try:
        data = to_params(state, stored)
        # The audit log names the fields this save changed (deep copy: the update works in place).
        before = copy.deepcopy(serialize_configuration(found)) if found is not None else None
        if found is None:
            saved = create_configuration(visit.db, validate(ConfigurationCreate, data), now=visit.now)
        else:
            saved = update_configuration(
                visit.db, found.id, validate(ConfigurationUpdate, data), now=visit.now
            )
        record_action(
            visit.db,
            visit.staff,
            action="portal_configuration.update",
            object_id=saved.id,
            at=visit.now,
            now=visit.now,
            details=_audit_summary(before, saved),
        )
    except TenureError as exc:
        visit.db.rollback()
        return _render(
            request,
            visit,
            state,
            errors={field_for(exc.param, state): exc.message},
            posted=form,
            status_code=400,
        )
    visit.db.commit()
    return RedirectResponse(f"{BASE}?configuration={saved.id}&notice=saved", status_code=303)


@router.post(BASE + "/coupon")
def inline_coupon(request: Request, visit: SettingsAdmin, form: Form) -> Response:
    """ "Create a coupon" inside the settings form: the unsaved settings come back as they were, with
    the new coupon selected as the retention coupon (saving applies it)."""
    visit.check_csrf(form)
    found = _configuration(visit, form.get("configuration") or None)
    state = state_from_form(form, state_of(found))
    try:
        coupon = create_coupon(visit, form, prefix="new_coupon_")
    except TenureError as exc:
        visit.db.rollback()
        return _render(
            request,
            visit,
            state,
            errors={"new_coupon": exc.message},
            posted=form,
            coupon_open=True,
            status_code=400,
        )
    visit.db.commit()
    state.retention_coupon = coupon.id
    return _render(
        request,
        visit,
        state,
        notice=f"Coupon {coupon.id} was created and selected as the retention coupon. "
        "Save the settings to offer it.",
    )


def _sample_customer(visit: StaffVisit, wanted: str) -> Customer:
    """The customer named (id or email), else the newest one with a running subscription."""
    wanted = wanted.strip()
    if wanted:
        customer = visit.db.scalar(
            select(Customer)
            .where(Customer.deleted.is_(False), (Customer.id == wanted) | (Customer.email == wanted))
            .order_by(Customer.pk.desc())
            .limit(1)
        )
        if customer is None:
            raise InvalidRequest(f"No customer with the id or email {wanted!r}.", param="preview_customer")
        return customer
    customer = visit.db.scalar(
        select(Customer)
        .join(Subscription, Subscription.customer_id == Customer.id)
        .where(Customer.deleted.is_(False), Subscription.status.in_(PREVIEWABLE))
        .order_by(Subscription.pk.desc())
        .limit(1)
    ) or visit.db.scalar(
        select(Customer).where(Customer.deleted.is_(False)).order_by(Customer.pk.desc()).limit(1)
    )
    if customer is None:
        raise InvalidRequest("There is no customer to preview the portal with yet.", param="preview_customer")
    return customer


@router.post(BASE + "/preview")
def preview(request: Request, visit: SettingsAdmin, form: Form) -> Response:
    """Open the portal as a (real) customer would see it, with the saved settings."""
    visit.check_csrf(form)
    locale = form.get("locale") if form.get("locale") in PORTAL_LOCALES else "auto"
    try:
        configuration = _configuration(visit, form.get("configuration") or None) or effective_configuration(
            visit.db, None, now=visit.now
        )
        customer = _sample_customer(visit, form.get("preview_customer"))
        params = validate(
            SessionCreate, {"customer": customer.id, "configuration": configuration.id, "locale": locale}
        )
        # An empty base URL gives a relative link: the preview opens on the host the operator uses.
        _session, url = create_portal_session(visit.db, params, real_now=visit.now, base_url="")
        record_action(
            visit.db,
            visit.staff,
            action="portal.preview",
            object_id=customer.id,
            at=visit.now,
            now=visit.now,
        )
    except TenureError as exc:
        visit.db.rollback()
        found = _configuration(visit, form.get("configuration") or None)
        return _render(request, visit, state_of(found), errors={"preview": exc.message}, status_code=400)
    visit.db.commit()
    return RedirectResponse(url, status_code=303)
