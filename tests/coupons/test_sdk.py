"""Coupons and promotion codes through the official `stripe` SDK against a real Tenure server."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def sdk(live_server: str, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, base_addresses={"api": live_server}, max_network_retries=0)


def test_coupons_and_promotion_codes_with_the_sdk(sdk: stripe.StripeClient) -> None:
    percent = sdk.v1.coupons.create(
        {"percent_off": 25.5, "duration": "repeating", "duration_in_months": 3, "name": "Quarter off"}
    )
    assert isinstance(percent, stripe.Coupon)
    assert (percent.percent_off, percent.duration_in_months, percent.valid) == (25.5, 3, True)
    fixed = sdk.v1.coupons.create(
        {"id": "TENOFF", "amount_off": 1000, "currency": "usd", "max_redemptions": 100}
    )
    assert (fixed.id, fixed.amount_off, fixed.duration) == ("TENOFF", 1000, "once")
    assert sdk.v1.coupons.update("TENOFF", {"name": "Ten off"}).name == "Ten off"

    code = sdk.v1.promotion_codes.create(
        {
            "promotion": {"type": "coupon", "coupon": "TENOFF"},
            "code": "WELCOME10",
            "max_redemptions": 5,
            "restrictions": {"minimum_amount": 2000, "minimum_amount_currency": "usd"},
            "expand": ["promotion.coupon"],
        }
    )
    assert isinstance(code, stripe.PromotionCode)
    assert code.code == "WELCOME10"
    assert code.promotion.type == "coupon"
    assert isinstance(code.promotion.coupon, stripe.Coupon)
    assert code.promotion.coupon.id == "TENOFF"
    assert code.restrictions.minimum_amount == 2000

    found = sdk.v1.promotion_codes.list({"code": "welcome10"})
    assert [c.id for c in found.data] == [code.id]
    paused = sdk.v1.promotion_codes.update(code.id, {"active": False, "metadata": {"why": "paused"}})
    assert (paused.active, paused.metadata["why"]) == (False, "paused")

    with pytest.raises(stripe.InvalidRequestError) as both:
        sdk.v1.coupons.create({"percent_off": 10, "amount_off": 100, "currency": "usd"})
    assert both.value.param == "amount_off"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        sdk.v1.promotion_codes.create({"promotion": {"type": "coupon", "coupon": "NOPE"}})
    assert unknown.value.code == "resource_missing"

    assert sdk.v1.coupons.delete(percent.id).deleted is True
    assert [c.id for c in sdk.v1.coupons.list().data] == ["TENOFF"]
