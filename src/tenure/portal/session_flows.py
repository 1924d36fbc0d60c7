"""`flow_data` of a portal session, checked against the customer and the configuration (deep links)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tenure.api.errors import InvalidRequest, MissingParameter, ResourceMissing
from tenure.coupons.models import PromotionCode, coupon_is_valid, promotion_code_is_usable
from tenure.coupons.service import get_coupon
from tenure.customers.models import Customer
from tenure.portal.models import PortalConfiguration
from tenure.portal.session_schemas import (
    AfterCompletionParams,
    CancelFlowParams,
    FlowDataParams,
    UpdateConfirmFlowParams,
)
from tenure.prices.models import Price
from tenure.subscriptions.models import Subscription, SubscriptionStatus

FLOW = "flow_data"
FLOW_DETAILS = ("subscription_cancel", "subscription_update", "subscription_update_confirm")
# Subscriptions a customer can cancel or change in the portal.
MANAGEABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


def normalized_flow(
    session: Session,
    data: FlowDataParams,
    *,
    customer: Customer,
    configuration: PortalConfiguration,
    now: int,
) -> dict[str, Any]:
    """`flow_data` checked against the customer and the configuration, in Stripe's `flow` shape."""
    for name in FLOW_DETAILS:
        if name != data.type and getattr(data, name) is not None:
            raise InvalidRequest(
                f"{FLOW}[{name}] can only be set when {FLOW}[type] is {name}.", param=f"{FLOW}[{name}]"
            )
    flow: dict[str, Any] = {
        "after_completion": _after_completion(data.after_completion),
        **dict.fromkeys(FLOW_DETAILS),
        "type": data.type,
    }
    if data.type == "subscription_cancel":
        details = _required(data.subscription_cancel, "subscription_cancel")
        flow["subscription_cancel"] = _cancel_flow(session, details, customer, configuration, now=now)
    elif data.type == "subscription_update":
        details_update = _required(data.subscription_update, "subscription_update")
        _require_feature(configuration, "subscription_update")
        subscription = _owned(session, details_update.subscription, customer, "subscription_update")
        flow["subscription_update"] = {"subscription": subscription.id}
    elif data.type == "subscription_update_confirm":
        confirm = _required(data.subscription_update_confirm, "subscription_update_confirm")
        _require_feature(configuration, "subscription_update")
        flow["subscription_update_confirm"] = _confirm_flow(
            session, confirm, customer, configuration, now=now
        )
    return flow


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise MissingParameter(f"{FLOW}[{name}]")
    return value


def _require_feature(configuration: PortalConfiguration, feature: str) -> None:
    if not configuration.features[feature]["enabled"]:
        raise InvalidRequest(
            f"This flow needs features[{feature}][enabled] on the configuration {configuration.id}.",
            param=f"{FLOW}[type]",
        )


def _after_completion(params: AfterCompletionParams | None) -> dict[str, Any]:
    param = f"{FLOW}[after_completion]"
    if params is None:
        return {"hosted_confirmation": None, "redirect": None, "type": "portal_homepage"}
    for name in ("redirect", "hosted_confirmation"):
        if name != params.type and getattr(params, name) is not None:
            raise InvalidRequest(
                f"{param}[{name}] can only be set when {param}[type] is {name}.", param=f"{param}[{name}]"
            )
    redirect = None
    if params.type == "redirect":
        if params.redirect is None or params.redirect.return_url is None:
            raise MissingParameter(f"{param}[redirect][return_url]")
        redirect = {"return_url": params.redirect.return_url}
    confirmation = None
    if params.type == "hosted_confirmation":
        message = params.hosted_confirmation.custom_message if params.hosted_confirmation else None
        confirmation = {"custom_message": message}
    return {"hosted_confirmation": confirmation, "redirect": redirect, "type": params.type}


def _owned(session: Session, subscription_id: str, customer: Customer, flow_type: str) -> Subscription:
    """The flow's subscription: it must exist, be the customer's, and be live."""
    param = f"{FLOW}[{flow_type}][subscription]"
    subscription = session.scalar(select(Subscription).where(Subscription.id == subscription_id))
    if subscription is None:
        raise ResourceMissing("subscription", subscription_id, param=param)
    if subscription.customer_id != customer.id:
        raise InvalidRequest(
            f"The subscription {subscription_id} does not belong to the customer {customer.id}.", param=param
        )
    if subscription.status not in MANAGEABLE:
        raise InvalidRequest(
            f"The subscription {subscription_id} is {subscription.status}: only active, trialing or "
            "past_due subscriptions can be managed in the portal.",
            param=param,
        )
    return subscription


def _cancel_flow(
    session: Session,
    details: CancelFlowParams,
    customer: Customer,
    configuration: PortalConfiguration,
    *,
    now: int,
) -> dict[str, Any]:
    _require_feature(configuration, "subscription_cancel")
    subscription = _owned(session, details.subscription, customer, "subscription_cancel")
    if subscription.cancel_at_period_end or subscription.cancel_at is not None:
        raise InvalidRequest(
            f"The subscription {subscription.id} is already scheduled to cancel.",
            param=f"{FLOW}[subscription_cancel][subscription]",
        )
    retention = None
    if details.retention is not None:
        param = f"{FLOW}[subscription_cancel][retention][coupon_offer]"
        if details.retention.coupon_offer is None:
            raise MissingParameter(param)
        coupon = _valid_coupon(
            session, details.retention.coupon_offer.coupon, param=f"{param}[coupon]", now=now
        )
        retention = {"coupon_offer": {"coupon": coupon}, "type": "coupon_offer"}
    return {"retention": retention, "subscription": subscription.id}


def _valid_coupon(session: Session, coupon_id: str, *, param: str, now: int) -> str:
    coupon = get_coupon(session, coupon_id, param=param)
    if not coupon_is_valid(coupon, now):
        raise InvalidRequest(f"Coupon expired: {coupon_id}", param=param, code="coupon_expired")
    return coupon.id


def _confirm_flow(
    session: Session,
    confirm: UpdateConfirmFlowParams,
    customer: Customer,
    configuration: PortalConfiguration,
    *,
    now: int,
) -> dict[str, Any]:
    subscription = _owned(session, confirm.subscription, customer, "subscription_update_confirm")
    param = f"{FLOW}[subscription_update_confirm]"
    item = confirm.items[0]
    if item.id not in {existing.id for existing in subscription.items}:
        raise InvalidRequest(
            f"The subscription {subscription.id} has no item {item.id}.", param=f"{param}[items][0][id]"
        )
    if item.price is not None:
        _offered_price(session, item.price, configuration, param=f"{param}[items][0][price]")
    discounts = None
    if confirm.discounts is not None:
        discounts = [
            _discount(
                session, entry.coupon, entry.promotion_code, param=f"{param}[discounts][{index}]", now=now
            )
            for index, entry in enumerate(confirm.discounts)
        ]
    return {
        "discounts": discounts,
        "items": [{"id": item.id, "price": item.price, "quantity": item.quantity}],
        "subscription": subscription.id,
    }


def _offered_price(
    session: Session, price_id: str, configuration: PortalConfiguration, *, param: str
) -> None:
    if session.scalar(select(Price.pk).where(Price.id == price_id)) is None:
        raise ResourceMissing("price", price_id, param=param)
    offered = {
        p for product in configuration.features["subscription_update"]["products"] for p in product["prices"]
    }
    if price_id not in offered:
        raise InvalidRequest(
            f"The price {price_id} is not in features[subscription_update][products] of the configuration "
            f"{configuration.id}.",
            param=param,
        )


def _discount(
    session: Session, coupon_id: str | None, promotion_code_id: str | None, *, param: str, now: int
) -> dict[str, Any]:
    if (coupon_id is None) == (promotion_code_id is None):
        raise InvalidRequest("Give exactly one of coupon and promotion_code.", param=param)
    if coupon_id is not None:
        return {
            "coupon": _valid_coupon(session, coupon_id, param=f"{param}[coupon]", now=now),
            "promotion_code": None,
        }
    code = session.scalar(select(PromotionCode).where(PromotionCode.id == promotion_code_id))
    if code is None:
        raise ResourceMissing("promotion code", str(promotion_code_id), param=f"{param}[promotion_code]")
    if not promotion_code_is_usable(code, now):
        raise InvalidRequest(
            f"The promotion code {code.code} cannot be redeemed.", param=f"{param}[promotion_code]"
        )
    return {"coupon": None, "promotion_code": code.id}
