"""The portal settings form: its state (from a configuration, or as posted), and the API parameters it
stands for. Saving goes through `update_configuration` with those parameters, so the page checks
exactly what the API checks and records the same `billing_portal.configuration.updated` event."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tenure.dashboard.visit import Posted
from tenure.portal.config_extensions import OFFER_FIELD
from tenure.portal.models import (
    ANY_REASON,
    PORTAL_LOCALES,
    STANDARD_REASONS,
    TEXT_KEYS,
    PortalConfiguration,
    default_features,
    default_tenure,
)

OFFER_TYPES: tuple[str, ...] = tuple(OFFER_FIELD)
OFFER_TYPE_LABELS = {
    "": "No offer",
    "coupon": "Coupon",
    "pause": "Pause (months)",
    "switch_price": "Switch to a cheaper price",
    "extend_trial": "Extend the trial (days)",
    "contact": "Contact us (URL)",
}
TEXT_LABELS = {
    "headline": "Headline (portal home)",
    "cancel_intro": "Cancel page introduction",
    "offer_text": "Offer text",
    "confirmation_message": "Confirmation message",
    "email_renewal_reminder": "Email: renewal reminder (opening paragraph)",
    "email_payment_failed": "Email: failed payment (opening paragraph)",
    "email_trial_ending": "Email: trial ending (opening paragraph)",
    "email_cancellation": "Email: cancellation confirmed (opening paragraph)",
    "email_offer_accepted": "Email: offer accepted (opening paragraph)",
    "email_portal_login": "Email: portal sign-in link (opening paragraph)",
    "email_signature": "Email signature",
}


def text_label(key: str) -> str:
    """Keys added later (emails…) read as their name until given a label here."""
    return TEXT_LABELS.get(key) or key.replace("_", " ").capitalize()


LOCALE_NAMES = {"en": "English", "fr": "French", "de": "German", "id": "Indonesian"}


def _blank_labels() -> dict[str, str]:
    return dict.fromkeys(PORTAL_LOCALES, "")


@dataclass
class SettingsState:
    configuration_id: str | None
    cancel_enabled: bool = True
    mode: str = "at_period_end"
    proration: str = "none"
    reasons_enabled: bool = True
    reasons: list[str] = field(default_factory=lambda: list(STANDARD_REASONS))
    custom: list[dict[str, Any]] = field(default_factory=list)  # {code, labels, feedback, active}
    new_reason: dict[str, str] = field(default_factory=lambda: {"code": "", "en": "", "feedback": "other"})
    retention_coupon: str = ""
    cooldown_days: str = "90"
    offers: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> {type, value}
    branding: dict[str, str] = field(default_factory=lambda: {"name": "", "logo_url": "", "accent_color": ""})
    texts: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def offer_codes(self) -> list[str]:
        """The reasons an offer can be set for: standard, custom, then any other reason (`*`)."""
        return [*STANDARD_REASONS, *(c["code"] for c in self.custom), ANY_REASON]

    def offer(self, code: str) -> dict[str, str]:
        return self.offers.get(code) or {"type": "", "value": ""}

    def text(self, locale: str, key: str) -> str:
        return (self.texts.get(locale) or {}).get(key, "")


def _offer_value(offer: dict[str, Any]) -> str:
    value = offer.get(OFFER_FIELD.get(str(offer.get("type")), ""))
    return "" if value is None else str(value)


def state_of(configuration: PortalConfiguration | None) -> SettingsState:
    if configuration is None:
        features, tenure = default_features(), default_tenure()
        configuration_id = None
    else:
        features, tenure = configuration.features, configuration.tenure
        configuration_id = configuration.id
    cancel = features.get("subscription_cancel") or default_features()["subscription_cancel"]
    reasons = cancel.get("cancellation_reason") or {}
    retention = tenure.get("retention") or default_tenure()["retention"]
    branding = tenure.get("branding") or {}
    return SettingsState(
        configuration_id=configuration_id,
        cancel_enabled=bool(cancel.get("enabled", True)),
        mode=str(cancel.get("mode") or "at_period_end"),
        proration=str(cancel.get("proration_behavior") or "none"),
        reasons_enabled=bool(reasons.get("enabled", True)),
        reasons=list(reasons.get("options") or []),
        custom=[
            {
                "code": c["code"],
                "labels": {**_blank_labels(), **{k: v or "" for k, v in (c.get("labels") or {}).items()}},
                "feedback": c.get("feedback") or "other",
                "active": bool(c.get("active", True)),
            }
            for c in tenure.get("custom_reasons") or []
        ],
        retention_coupon=str(retention.get("coupon") or ""),
        cooldown_days=str(retention.get("cooldown_days", 90)),
        offers={
            code: {"type": str(offer.get("type") or ""), "value": _offer_value(offer)}
            for code, offer in (retention.get("offers") or {}).items()
        },
        branding={k: str(branding.get(k) or "") for k in ("name", "logo_url", "accent_color")},
        texts={
            loc: {k: str(v) for k, v in entries.items()}
            for loc, entries in (tenure.get("texts") or {}).items()
        },
    )


def state_from_form(form: Posted, stored: SettingsState) -> SettingsState:
    """What the operator submitted; custom reasons are matched to the stored ones by code."""
    custom = []
    for index, existing in enumerate(stored.custom):
        prefix = f"custom[{index}]"
        custom.append(
            {
                "code": existing["code"],
                "labels": {loc: form.get(f"{prefix}[{loc}]") for loc in PORTAL_LOCALES},
                "feedback": form.get(f"{prefix}[feedback]") or existing["feedback"],
                "active": form.get(f"{prefix}[active]") == "true",
            }
        )
    state = SettingsState(
        configuration_id=stored.configuration_id,
        cancel_enabled=form.get("cancel_enabled") == "true",
        mode=form.get("mode") or "at_period_end",
        proration=form.get("proration_behavior") or "none",
        reasons_enabled=form.get("reasons_enabled") == "true",
        reasons=[code for code in form.getlist("reasons") if code in STANDARD_REASONS],
        custom=custom,
        new_reason={
            "code": form.get("new_reason[code]").strip(),
            "en": form.get("new_reason[en]"),
            "feedback": form.get("new_reason[feedback]") or "other",
        },
        retention_coupon=form.get("retention_coupon"),
        cooldown_days=form.get("cooldown_days").strip(),
        branding={k: form.get(f"branding[{k}]").strip() for k in ("name", "logo_url", "accent_color")},
        texts={
            loc: {
                key: form.get(f"text[{loc}][{key}]") for key in TEXT_KEYS if form.get(f"text[{loc}][{key}]")
            }
            for loc in PORTAL_LOCALES
        },
    )
    for code in state.offer_codes:
        kind = form.get(f"offer[{code}][type]")
        if kind in OFFER_TYPES:
            state.offers[code] = {"type": kind, "value": form.get(f"offer[{code}][value]").strip()}
    return state


def _offer_params(offer: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {"type": offer["type"]}
    if offer["value"]:
        params[OFFER_FIELD[offer["type"]]] = offer["value"]
    return params


def to_params(state: SettingsState, stored: SettingsState) -> dict[str, Any]:
    """The configuration parameters (API names) for the submitted state.

    The retention coupon and the offers are sent only when they changed, so that a coupon archived
    since does not stop the operator from saving unrelated settings.
    """
    custom_reasons: list[dict[str, Any]] = [
        {"code": c["code"], "labels": dict(c["labels"]), "feedback": c["feedback"], "active": c["active"]}
        for c in state.custom
    ]
    if state.new_reason["code"]:
        custom_reasons.append(
            {
                "code": state.new_reason["code"],
                "labels": {"en": state.new_reason["en"]},
                "feedback": state.new_reason["feedback"],
            }
        )
    retention: dict[str, Any] = {"cooldown_days": state.cooldown_days}
    if state.retention_coupon != stored.retention_coupon:
        retention["coupon"] = state.retention_coupon
    offers: dict[str, Any] = {}
    for code in {*state.offers, *stored.offers}:
        new, old = state.offer(code), stored.offer(code)
        if new == old:
            continue
        offers[code] = _offer_params(new) if new["type"] else ""
    if offers:
        retention["offers"] = offers
    params: dict[str, Any] = {
        "features": {
            "subscription_cancel": {
                "enabled": state.cancel_enabled,
                "mode": state.mode,
                "proration_behavior": state.proration,
                "cancellation_reason": {"enabled": state.reasons_enabled, "options": list(state.reasons)},
            }
        },
        "tenure_retention": retention,
        "tenure_branding": dict(state.branding),
        "tenure_texts": {loc: {key: state.text(loc, key) for key in TEXT_KEYS} for loc in PORTAL_LOCALES},
    }
    if custom_reasons:
        params["tenure_custom_reasons"] = custom_reasons
    return copy.deepcopy(params)


_FIELD_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^features\[subscription_cancel\]\[(mode|proration_behavior|enabled)\]"), r"\1"),
    (re.compile(r"^features\[subscription_cancel\]\[cancellation_reason\]"), "reasons"),
    (re.compile(r"^tenure_retention\[coupon\]"), "retention_coupon"),
    (re.compile(r"^tenure_retention\[cooldown_days\]"), "cooldown_days"),
    (re.compile(r"^tenure_retention\[offers\]\[([^\]]+)\]"), r"offer[\1]"),
    (re.compile(r"^tenure_branding\[(\w+)\]"), r"branding[\1]"),
    (re.compile(r"^tenure_texts\[(\w+)\]\[(\w+)\]"), r"text[\1][\2]"),
    (re.compile(r"^tenure_texts\[(\w+)\]"), r"text[\1]"),
)


def field_for(param: str | None, state: SettingsState) -> str:
    """Which form field an API error is about (its message is shown next to that field)."""
    if not param:
        return "general"
    custom = re.match(r"^tenure_custom_reasons\[(\d+)\]", param)
    if custom:
        index = int(custom.group(1))
        return "new_reason" if index >= len(state.custom) else f"custom[{index}]"
    for pattern, replacement in _FIELD_PATTERNS:
        found = pattern.match(param)
        if found:
            return found.expand(replacement)
    return "general"
