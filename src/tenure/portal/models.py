"""Billing portal configurations and sessions: Stripe's `billing_portal.*` objects and Tenure's extensions."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tenure.db.base import Base, JSONType, StripeObject, WithMetadata
from tenure.subscriptions.models import Feedback

# The 8 standard cancellation reasons, in the order of `cancellation-reasons.tsv` (the order the
# survey shows them by default).
STANDARD_REASONS: tuple[str, ...] = tuple(reason.value for reason in Feedback)
# An offer keyed "*" applies to any reason without an offer of its own.
ANY_REASON = "*"
OFFER_TYPES: tuple[str, ...] = ("coupon", "pause", "switch_price", "extend_trial", "contact")
# The languages every customer-facing text exists in.
PORTAL_LOCALES: tuple[str, ...] = ("en", "fr", "de", "id")
# The texts an operator may override per locale (`tenure_texts[<locale>][<key>]`).
TEXT_KEYS: tuple[str, ...] = (
    "headline",
    "cancel_intro",
    "offer_text",
    "confirmation_message",
    # Emails: the opening paragraph of each subscriber email, and the signature of all of them.
    "email_renewal_reminder",
    "email_payment_failed",
    "email_trial_ending",
    "email_cancellation",
    "email_offer_accepted",
    "email_portal_login",
    "email_signature",
)
DEFAULT_COOLDOWN_DAYS = 90
# A portal session's URL must be opened within 5 minutes of its creation (as in Stripe).
URL_LIFETIME_SECONDS = 300


def hash_token(token: str) -> str:
    """How a portal session's URL secret and browser token are stored (and looked up): SHA-256 hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_features() -> dict[str, Any]:
    """Stripe's `features` with every default filled; cancelling is on by default in Tenure."""
    return {
        "customer_update": {"allowed_updates": [], "enabled": False},
        "invoice_history": {"enabled": False},
        "payment_method_update": {"enabled": False, "payment_method_configuration": None},
        "subscription_cancel": {
            "cancellation_reason": {"enabled": True, "options": list(STANDARD_REASONS)},
            "enabled": True,
            "mode": "at_period_end",
            "proration_behavior": "none",
        },
        "subscription_update": {
            "billing_cycle_anchor": None,
            "default_allowed_updates": [],
            "enabled": False,
            "products": [],
            "proration_behavior": "none",
            "schedule_at_period_end": {"conditions": []},
            "trial_update_behavior": "end_trial",
        },
    }


def default_business_profile() -> dict[str, Any]:
    return {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None}


def default_tenure() -> dict[str, Any]:
    """The Tenure extensions of a configuration, stored together in its `tenure` column."""
    return {
        "retention": {"coupon": None, "cooldown_days": DEFAULT_COOLDOWN_DAYS, "offers": {}},
        "custom_reasons": [],
        "branding": {"name": None, "logo_url": None, "accent_color": None},
        "texts": {},
    }


class PortalConfiguration(StripeObject, WithMetadata, Base):
    __tablename__ = "portal_configurations"
    __table_args__ = (
        # At most one default configuration, even when two requests create one at the same time.
        Index(
            "ix_portal_configurations_one_default",
            "is_default",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    active: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(256))
    business_profile: Mapped[dict[str, Any]] = mapped_column(JSONType, default=default_business_profile)
    default_return_url: Mapped[str | None] = mapped_column(String(2048))
    login_page_enabled: Mapped[bool] = mapped_column(default=False)
    features: Mapped[dict[str, Any]] = mapped_column(JSONType, default=default_features)
    updated: Mapped[int] = mapped_column(BigInteger)
    # `retention`, `custom_reasons`, `branding`, `texts`: served as the `tenure_*` fields.
    tenure: Mapped[dict[str, Any]] = mapped_column(JSONType, default=default_tenure)

    @property
    def retention(self) -> dict[str, Any]:
        return dict(self.tenure.get("retention") or default_tenure()["retention"])

    @property
    def custom_reasons(self) -> list[dict[str, Any]]:
        return list(self.tenure.get("custom_reasons") or [])

    @property
    def branding(self) -> dict[str, Any]:
        return dict(self.tenure.get("branding") or default_tenure()["branding"])

    @property
    def texts(self) -> dict[str, dict[str, str]]:
        return dict(self.tenure.get("texts") or {})

    def feedback_for(self, reason: str) -> str | None:
        """The standard code recorded as `cancellation_details.feedback` for a standard or custom reason."""
        return feedback_for(self.custom_reasons, reason)

    def offer_for(self, reason: str) -> dict[str, Any] | None:
        """The retention offer for a reason (see `offer_for`)."""
        return offer_for(self.retention, self.custom_reasons, reason)


def feedback_for(custom_reasons: list[dict[str, Any]], reason: str) -> str | None:
    if reason in STANDARD_REASONS:
        return reason
    for custom in custom_reasons:
        if custom["code"] == reason:
            return str(custom["feedback"])
    return None


def offer_for(
    retention: dict[str, Any], custom_reasons: list[dict[str, Any]], reason: str
) -> dict[str, Any] | None:
    """The offer for `reason`: its own, else (for a custom reason) its standard reason's, else `"*"`'s.

    A coupon offer without a coupon of its own offers the default retention coupon.
    """
    offers: dict[str, Any] = retention.get("offers") or {}
    offer: dict[str, Any] | None = offers.get(reason)
    if offer is None:
        standard = feedback_for(custom_reasons, reason)
        offer = offers.get(standard) if standard and standard != reason else None
    if offer is None:
        offer = offers.get(ANY_REASON)
    if offer is None:
        return None
    offer = copy.deepcopy(offer)
    if offer["type"] == "coupon" and not offer.get("coupon"):
        if not retention.get("coupon"):
            return None
        offer["coupon"] = retention["coupon"]
    return offer


class PortalSession(StripeObject, Base):
    __tablename__ = "portal_sessions"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    configuration_id: Mapped[str] = mapped_column(ForeignKey("portal_configurations.id"), index=True)
    return_url: Mapped[str | None] = mapped_column(String(2048))
    # As requested; `auto` (or nothing) is None: the portal then picks the customer's language.
    locale: Mapped[str | None] = mapped_column(String(16))
    # The session's `flow` as Stripe returns it (None without `flow_data`).
    flow: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Only hashes are stored: the URL secret is in the `url` returned once, by the create call.
    url_secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    url_expires_at: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[int | None] = mapped_column(BigInteger)
    browser_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    browser_expires_at: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def flow_type(self) -> str | None:
        return str(self.flow["type"]) if self.flow else None

    @property
    def flow_subscription_id(self) -> str | None:
        """The subscription a deep link is about (cancel, update or update-confirm flows)."""
        if not self.flow:
            return None
        details = self.flow.get(str(self.flow["type"]))
        return (
            str(details["subscription"])
            if isinstance(details, dict) and details.get("subscription")
            else None
        )
