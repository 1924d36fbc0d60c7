"""Tenure's configuration extensions: retention offers, custom reasons, branding, texts per locale."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.coupons.models import coupon_is_valid
from tenure.coupons.service import get_coupon
from tenure.portal.config_schemas import (
    MAX_CUSTOM_REASONS,
    MAX_TEXT_LENGTH,
    BrandingParams,
    ConfigurationFields,
    CustomReasonParams,
    OfferParams,
    RetentionParams,
)
from tenure.portal.models import ANY_REASON, PORTAL_LOCALES, STANDARD_REASONS, TEXT_KEYS, default_tenure
from tenure.prices.models import Price

RETENTION = "tenure_retention"
REASONS = "tenure_custom_reasons"
TEXTS = "tenure_texts"
# The one field each offer type needs; every other offer field is refused for that type.
OFFER_FIELD: dict[str, str] = {
    "coupon": "coupon",
    "pause": "pause_months",
    "switch_price": "price",
    "extend_trial": "trial_days",
    "contact": "url",
}
LABEL_LOCALES = ("en", "fr", "de", "id")


def merge_extensions(
    session: Session, current: dict[str, Any], params: ConfigurationFields, *, now: int
) -> dict[str, Any]:
    """The `tenure` column after applying the request's `tenure_*` parameters (each checked)."""
    tenure = copy.deepcopy(current)
    given = params.model_fields_set
    if "tenure_custom_reasons" in given:
        tenure["custom_reasons"] = _custom_reasons(
            tenure.get("custom_reasons") or [], params.tenure_custom_reasons
        )
    if "tenure_retention" in given:
        tenure["retention"] = _retention(session, tenure, params.tenure_retention, now=now)
    if "tenure_branding" in given:
        tenure["branding"] = _branding(tenure.get("branding"), params.tenure_branding)
    if "tenure_texts" in given:
        tenure["texts"] = _texts(tenure.get("texts") or {}, params.tenure_texts)
    return tenure


# --- retention -----------------------------------------------------------------------------------


def _usable_coupon(session: Session, coupon_id: str, *, param: str, now: int) -> str:
    coupon = get_coupon(session, coupon_id, param=param)
    if not coupon_is_valid(coupon, now):
        raise InvalidRequest(f"Coupon expired: {coupon_id}", param=param, code="coupon_expired")
    return coupon.id


def _retention(
    session: Session, tenure: dict[str, Any], params: RetentionParams | None, *, now: int
) -> dict[str, Any]:
    retention = copy.deepcopy(tenure.get("retention") or default_tenure()["retention"])
    if params is None:  # `tenure_retention=""`: back to no retention settings
        return dict(default_tenure()["retention"])
    given = params.model_fields_set
    if "coupon" in given:
        retention["coupon"] = (
            _usable_coupon(session, params.coupon, param=f"{RETENTION}[coupon]", now=now)
            if params.coupon
            else None
        )
    if "cooldown_days" in given:
        retention["cooldown_days"] = (
            default_tenure()["retention"]["cooldown_days"]
            if params.cooldown_days is None
            else params.cooldown_days
        )
    if "offers" in given:
        offers = dict(retention.get("offers") or {}) if params.offers is not None else {}
        known = {*STANDARD_REASONS, ANY_REASON, *(r["code"] for r in tenure.get("custom_reasons") or [])}
        for reason, offer in (params.offers or {}).items():
            param = f"{RETENTION}[offers][{reason}]"
            if reason not in known:
                raise InvalidRequest(
                    f"No such cancellation reason: {reason!r}. Offers are keyed by a standard reason, "
                    "a custom reason's code, or `*`.",
                    param=param,
                )
            if offer is None:
                offers.pop(reason, None)
            else:
                offers[reason] = _offer(
                    session, offer, default_coupon=retention["coupon"], param=param, now=now
                )
        retention["offers"] = offers
    return dict(retention)


def _offer(
    session: Session, offer: OfferParams, *, default_coupon: str | None, param: str, now: int
) -> dict[str, Any]:
    needed = OFFER_FIELD[offer.type]
    for field in OFFER_FIELD.values():
        if field != needed and getattr(offer, field) is not None:
            raise InvalidRequest(
                f"{field} cannot be set on an offer of type {offer.type}.", param=f"{param}[{field}]"
            )
    value = getattr(offer, needed)
    if offer.type == "coupon":
        if value is None and default_coupon is None:
            raise MissingParameter(f"{param}[coupon]")  # nor a default retention coupon to fall back on
        if value is not None:
            value = _usable_coupon(session, value, param=f"{param}[coupon]", now=now)
    elif value is None:
        raise MissingParameter(f"{param}[{needed}]")
    elif offer.type == "switch_price":
        _switchable_price(session, value, param=f"{param}[price]")
    return {"type": offer.type, needed: value}


def _switchable_price(session: Session, price_id: str, *, param: str) -> None:
    price = session.scalar(select(Price).where(Price.id == price_id))
    if price is None:
        raise ResourceMissing("price", price_id, param=param)
    if not price.active or not price.is_recurring:
        raise InvalidRequest(f"Price {price_id} must be an active recurring price.", param=param)


# --- custom reasons ------------------------------------------------------------------------------


def _custom_reasons(
    current: list[dict[str, Any]], given: list[CustomReasonParams] | None
) -> list[dict[str, Any]]:
    """Upsert by code: a reason, once defined, keeps its code forever (history refers to it), so it
    can be relabelled or deactivated but not removed."""
    reasons = {reason["code"]: copy.deepcopy(reason) for reason in current}
    if given is None:
        if reasons:
            raise InvalidRequest(
                "Custom reasons cannot be removed (past cancellations refer to their codes): "
                "deactivate one with `active=false` instead.",
                param=REASONS,
            )
        return []
    seen: set[str] = set()
    for index, entry in enumerate(given):
        param = f"{REASONS}[{index}]"
        if entry.code in seen:
            raise InvalidRequest(f"Reason code {entry.code!r} is given twice.", param=f"{param}[code]")
        seen.add(entry.code)
        existing = reasons.get(entry.code)
        if existing is None:
            if entry.labels is None or entry.labels.en is None:
                raise MissingParameter(f"{param}[labels][en]")
            if entry.feedback is None:
                raise MissingParameter(f"{param}[feedback]")
            existing = {"code": entry.code, "labels": dict.fromkeys(LABEL_LOCALES), "active": True}
        if entry.labels is not None:
            for locale in entry.labels.model_fields_set:
                existing["labels"][locale] = getattr(entry.labels, locale)
            if not existing["labels"]["en"]:
                raise MissingParameter(f"{param}[labels][en]")
        if entry.feedback is not None:
            existing["feedback"] = entry.feedback.value
        if entry.active is not None:
            existing["active"] = entry.active
        reasons[entry.code] = {
            "code": existing["code"],
            "labels": existing["labels"],
            "feedback": existing["feedback"],
            "active": existing["active"],
        }
    if len(reasons) > MAX_CUSTOM_REASONS:
        raise InvalidRequest(f"At most {MAX_CUSTOM_REASONS} custom reasons are allowed.", param=REASONS)
    return list(reasons.values())


# --- branding and texts --------------------------------------------------------------------------


def _branding(current: dict[str, Any] | None, params: BrandingParams | None) -> dict[str, Any]:
    branding = dict(current or default_tenure()["branding"])
    if params is None:
        return dict(default_tenure()["branding"])
    for name in params.model_fields_set:
        branding[name] = getattr(params, name)
    return branding


def _texts(current: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """Merge `{locale: {key: text}}`; `""` removes one text (or, for a whole locale, all of them)."""
    if given is None:
        return {}
    texts = copy.deepcopy(current)
    for locale, entries in given.items():
        param = f"{TEXTS}[{locale}]"
        if locale not in PORTAL_LOCALES:
            raise InvalidRequest(
                f"Unsupported locale {locale!r}: texts exist in {', '.join(PORTAL_LOCALES)}.", param=param
            )
        if entries in ("", None):
            texts.pop(locale, None)
            continue
        if not isinstance(entries, dict):
            raise InvalidRequest(f"Invalid object for {param}: expected a hash of texts.", param=param)
        merged = dict(texts.get(locale) or {})
        for key, text in entries.items():
            if key not in TEXT_KEYS:
                raise InvalidRequest(
                    f"Unknown text {key!r}: the texts are {', '.join(TEXT_KEYS)}.", param=f"{param}[{key}]"
                )
            if text in ("", None):
                merged.pop(key, None)
            elif not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
                raise InvalidRequest(
                    f"Invalid text: a string of at most {MAX_TEXT_LENGTH} characters.",
                    param=f"{param}[{key}]",
                )
            else:
                merged[key] = text
        if merged:
            texts[locale] = merged
        else:
            texts.pop(locale, None)
    return texts
