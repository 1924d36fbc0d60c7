"""Parameters and the wire shape of `billing_portal.session`."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field, field_validator

from tenure.api.params import Params
from tenure.portal.fields import HttpUrl
from tenure.portal.models import PortalSession

# Stripe's portal locales (`auto` lets the portal choose from the customer and the browser).
STRIPE_LOCALES: frozenset[str] = frozenset(
    "auto bg cs da de el en en-AU en-CA en-GB en-IE en-IN en-NZ en-SG es es-419 et fi fil fr fr-CA hr "  # noqa: SIM905
    "hu id it ja ko lt lv ms mt nb nl pl pt pt-BR ro ru sk sl sv th tr vi zh zh-HK zh-TW".split()
)
FlowType = Literal[
    "subscription_cancel", "subscription_update", "subscription_update_confirm", "payment_method_update"
]


class CouponOfferParams(Params):
    coupon: str


class CancelRetentionParams(Params):
    type: Literal["coupon_offer"]
    coupon_offer: CouponOfferParams | None = None


class CancelFlowParams(Params):
    subscription: str
    retention: CancelRetentionParams | None = None


class UpdateFlowParams(Params):
    subscription: str


class ConfirmItemParams(Params):
    id: str
    price: str | None = None
    quantity: int | None = Field(default=None, ge=0, le=10_000_000)


class ConfirmDiscountParams(Params):
    coupon: str | None = None
    promotion_code: str | None = None


class UpdateConfirmFlowParams(Params):
    subscription: str
    items: list[ConfirmItemParams] = Field(min_length=1, max_length=1)
    discounts: list[ConfirmDiscountParams] | None = Field(default=None, max_length=1)


class RedirectParams(Params):
    return_url: HttpUrl | None = None


class HostedConfirmationParams(Params):
    custom_message: str | None = Field(default=None, max_length=500)


class AfterCompletionParams(Params):
    type: Literal["redirect", "hosted_confirmation", "portal_homepage"]
    redirect: RedirectParams | None = None
    hosted_confirmation: HostedConfirmationParams | None = None


class FlowDataParams(Params):
    type: FlowType
    after_completion: AfterCompletionParams | None = None
    subscription_cancel: CancelFlowParams | None = None
    subscription_update: UpdateFlowParams | None = None
    subscription_update_confirm: UpdateConfirmFlowParams | None = None


class SessionCreate(Params):
    customer: str
    configuration: str | None = None
    return_url: HttpUrl | None = None
    locale: str | None = None
    on_behalf_of: str | None = None
    flow_data: FlowDataParams | None = None

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str | None) -> str | None:
        if value is not None and value not in STRIPE_LOCALES:
            raise ValueError(f"Invalid locale: {value!r} is not a supported portal locale.")
        return value


def serialize_session(portal_session: PortalSession, *, url: str | None) -> dict[str, Any]:
    """The session as Stripe shows it; `url` (which holds the secret) only in the create response."""
    return {
        "id": portal_session.id,
        "object": "billing_portal.session",
        "configuration": portal_session.configuration_id,
        "created": portal_session.created,
        "customer": portal_session.customer_id,
        "customer_account": None,
        "flow": copy.deepcopy(portal_session.flow),
        "livemode": portal_session.livemode,
        "locale": portal_session.locale,
        "on_behalf_of": None,
        "return_url": portal_session.return_url,
        "url": url,
    }
