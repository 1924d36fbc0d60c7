"""Parameters and the wire shape of `billing_portal.configuration` (Stripe's, plus the `tenure_*` fields)."""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from tenure.api.lists import ListParams
from tenure.api.params import Params
from tenure.portal.fields import ContactUrl, HexColor, HttpUrl
from tenure.portal.models import ANY_REASON, STANDARD_REASONS, PortalConfiguration
from tenure.subscriptions.models import Feedback

CUSTOM_REASON_CODE = re.compile(r"^[a-z0-9_]{2,40}$")
MAX_CUSTOM_REASONS = 50
MAX_LABEL_LENGTH = 200
MAX_TEXT_LENGTH = 1000

# --- Stripe's parameters -------------------------------------------------------------------------


class BusinessProfileParams(Params):
    headline: str | None = Field(default=None, max_length=60)
    privacy_policy_url: HttpUrl | None = None
    terms_of_service_url: HttpUrl | None = None


class LoginPageParams(Params):
    enabled: bool | None = None


class CustomerUpdateParams(Params):
    enabled: bool | None = None
    allowed_updates: list[Literal["address", "email", "name", "phone", "shipping", "tax_id"]] | None = None


class EnabledParams(Params):
    enabled: bool | None = None


class PaymentMethodUpdateParams(Params):
    enabled: bool | None = None
    payment_method_configuration: str | None = None


class CancellationReasonParams(Params):
    enabled: bool | None = None
    options: list[Feedback] | None = None


class SubscriptionCancelParams(Params):
    enabled: bool | None = None
    mode: Literal["at_period_end", "immediately"] | None = None
    proration_behavior: Literal["none", "create_prorations", "always_invoice"] | None = None
    cancellation_reason: CancellationReasonParams | None = None


class AdjustableQuantityParams(Params):
    enabled: bool
    maximum: int | None = Field(default=None, ge=1, le=99_999_999)
    minimum: int | None = Field(default=None, ge=0, le=99_999_999)


class UpdatableProductParams(Params):
    product: str
    prices: list[str] = Field(min_length=1, max_length=10)
    adjustable_quantity: AdjustableQuantityParams | None = None


class ScheduleConditionParams(Params):
    type: Literal["decreasing_item_amount", "shortening_interval"]


class ScheduleAtPeriodEndParams(Params):
    conditions: list[ScheduleConditionParams] | None = None


class SubscriptionUpdateParams(Params):
    enabled: bool | None = None
    billing_cycle_anchor: Literal["now", "unchanged"] | None = None
    default_allowed_updates: list[Literal["price", "promotion_code", "quantity"]] | None = None
    products: list[UpdatableProductParams] | None = Field(default=None, max_length=10)
    proration_behavior: Literal["none", "create_prorations", "always_invoice"] | None = None
    schedule_at_period_end: ScheduleAtPeriodEndParams | None = None
    trial_update_behavior: Literal["continue_trial", "end_trial"] | None = None


class FeaturesParams(Params):
    customer_update: CustomerUpdateParams | None = None
    invoice_history: EnabledParams | None = None
    payment_method_update: PaymentMethodUpdateParams | None = None
    subscription_cancel: SubscriptionCancelParams | None = None
    subscription_update: SubscriptionUpdateParams | None = None


# --- Tenure's extensions -------------------------------------------------------------------------


class OfferParams(Params):
    type: Literal["coupon", "pause", "switch_price", "extend_trial", "contact"]
    coupon: str | None = None
    pause_months: int | None = Field(default=None, ge=1, le=12)
    price: str | None = None
    trial_days: int | None = Field(default=None, ge=1, le=730)
    url: ContactUrl | None = None


class RetentionParams(Params):
    coupon: str | None = None
    cooldown_days: int | None = Field(default=None, ge=0, le=3650)
    # Keyed by a standard or custom reason code, or "*"; `offers[code]=""` removes one offer.
    offers: dict[str, OfferParams | None] | None = Field(default=None, max_length=60)

    @field_validator("offers", mode="before")
    @classmethod
    def _blank_removes(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: (None if item == "" else item) for key, item in value.items()}
        return value


class ReasonLabelsParams(Params):
    en: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)
    fr: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)
    de: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)
    id: str | None = Field(default=None, max_length=MAX_LABEL_LENGTH)


class CustomReasonParams(Params):
    code: str
    labels: ReasonLabelsParams | None = None
    feedback: Feedback | None = None
    active: bool | None = None

    @field_validator("code")
    @classmethod
    def _stable_code(cls, value: str) -> str:
        if not CUSTOM_REASON_CODE.match(value):
            raise ValueError(f"Invalid reason code {value!r}: use 2 to 40 of a-z, 0-9 and _.")
        if value in STANDARD_REASONS or value == ANY_REASON:
            raise ValueError(f"Reason code {value!r} is a standard reason: choose another code.")
        return value


class BrandingParams(Params):
    name: str | None = Field(default=None, max_length=100)
    logo_url: HttpUrl | None = None
    accent_color: HexColor | None = None


# --- requests ------------------------------------------------------------------------------------


class ConfigurationFields(Params):
    business_profile: BusinessProfileParams | None = None
    default_return_url: HttpUrl | None = None
    features: FeaturesParams | None = None
    login_page: LoginPageParams | None = None
    metadata: Any = None
    name: str | None = Field(default=None, max_length=256)
    # Tenure: make this the default configuration (the previous default stops being one).
    is_default: bool | None = None
    tenure_retention: RetentionParams | None = None
    tenure_custom_reasons: list[CustomReasonParams] | None = Field(
        default=None, max_length=MAX_CUSTOM_REASONS
    )
    tenure_branding: BrandingParams | None = None
    # `{locale: {key: text}}`: checked key by key in `config_extensions` to name the bad parameter.
    tenure_texts: dict[str, Any] | None = None


class ConfigurationCreate(ConfigurationFields):
    pass


class ConfigurationUpdate(ConfigurationFields):
    active: bool | None = None


class ConfigurationList(ListParams):
    active: bool | None = None
    is_default: bool | None = None


# --- the object ----------------------------------------------------------------------------------


def login_page_url(configuration: PortalConfiguration, base_url: str | None) -> str | None:
    """The hosted login page, when enabled; None without a base URL (in events, like a session's `url`)."""
    if not configuration.login_page_enabled or not base_url:
        return None
    return f"{base_url.rstrip('/')}/portal/login/{configuration.id}"


def serialize_configuration(
    configuration: PortalConfiguration, *, base_url: str | None = None
) -> dict[str, Any]:
    profile = configuration.business_profile or {}
    return {
        "id": configuration.id,
        "object": "billing_portal.configuration",
        "active": configuration.active,
        "application": None,
        "business_profile": {
            "headline": profile.get("headline"),
            "privacy_policy_url": profile.get("privacy_policy_url"),
            "terms_of_service_url": profile.get("terms_of_service_url"),
        },
        "created": configuration.created,
        "default_return_url": configuration.default_return_url,
        "features": copy.deepcopy(configuration.features),
        "is_default": configuration.is_default,
        "livemode": configuration.livemode,
        "login_page": {
            "enabled": configuration.login_page_enabled,
            "url": login_page_url(configuration, base_url),
        },
        "metadata": dict(configuration.metadata_ or {}),
        "name": configuration.name,
        "updated": configuration.updated,
        "tenure_retention": copy.deepcopy(configuration.retention),
        "tenure_custom_reasons": copy.deepcopy(configuration.custom_reasons),
        "tenure_branding": configuration.branding,
        "tenure_texts": copy.deepcopy(configuration.texts),
    }
