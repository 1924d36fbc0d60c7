"""Coupon and promotion code rules, as plain functions on in-memory objects (no database)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tenure.coupons.models import Coupon, PromotionCode, coupon_is_valid, promotion_code_is_usable
from tenure.coupons.service import currency_matches, discount_amount

NOW = 1_800_000_000


def _coupon(**fields: object) -> Coupon:
    values: dict[str, object] = {
        "id": "C",
        "created": NOW,
        "duration": "once",
        "times_redeemed": 0,
        "deleted": False,
        "percent_off": None,
        "amount_off": None,
        "currency": None,
        "redeem_by": None,
        "max_redemptions": None,
        **fields,
    }
    return Coupon(**values)


def test_coupon_validity() -> None:
    assert coupon_is_valid(_coupon(percent_off=Decimal(10)), NOW)
    assert not coupon_is_valid(_coupon(deleted=True), NOW)
    assert coupon_is_valid(_coupon(redeem_by=NOW), NOW)
    assert not coupon_is_valid(_coupon(redeem_by=NOW), NOW + 1)
    assert coupon_is_valid(_coupon(max_redemptions=2, times_redeemed=1), NOW)
    assert not coupon_is_valid(_coupon(max_redemptions=2, times_redeemed=2), NOW)
    assert _coupon(max_redemptions=1, times_redeemed=1).is_valid(NOW) is False


def test_promotion_code_usability() -> None:
    def code(**fields: object) -> PromotionCode:
        values: dict[str, object] = {
            "active": True,
            "expires_at": None,
            "max_redemptions": None,
            "times_redeemed": 0,
            "coupon": _coupon(),
            **fields,
        }
        return PromotionCode(**values)

    assert promotion_code_is_usable(code(), NOW)
    assert not promotion_code_is_usable(code(active=False), NOW)
    assert promotion_code_is_usable(code(expires_at=NOW), NOW)
    assert not promotion_code_is_usable(code(expires_at=NOW), NOW + 1)
    assert not promotion_code_is_usable(code(max_redemptions=3, times_redeemed=3), NOW)
    assert not promotion_code_is_usable(code(coupon=_coupon(deleted=True)), NOW)


def test_discount_examples() -> None:
    assert discount_amount(_coupon(percent_off=Decimal("25.5")), 2000, "usd") == 510
    assert discount_amount(_coupon(percent_off=Decimal("33.3333")), 999, "eur") == 333
    assert discount_amount(_coupon(percent_off=Decimal("50")), 1, "usd") == 1  # half away from zero
    assert discount_amount(_coupon(percent_off=Decimal("100")), 4321, "jpy") == 4321
    assert discount_amount(_coupon(amount_off=500, currency="usd"), 2000, "USD") == 500
    assert discount_amount(_coupon(amount_off=5000, currency="usd"), 2000, "usd") == 2000
    assert discount_amount(_coupon(amount_off=500, currency="usd"), 2000, "eur") == 0
    assert discount_amount(_coupon(amount_off=500, currency="usd"), -2000, "usd") == 0
    assert currency_matches(_coupon(percent_off=Decimal(5), currency="usd"), "eur")
    assert not currency_matches(_coupon(amount_off=5, currency="usd"), "eur")


amounts = st.integers(min_value=0, max_value=999_999_999_999)
percents = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4)


@given(amount=amounts, percent=percents)
def test_percent_discount_is_between_zero_and_the_amount(amount: int, percent: Decimal) -> None:
    taken = discount_amount(_coupon(percent_off=percent), amount, "usd")
    assert 0 <= taken <= amount
    assert abs(taken - amount * percent / 100) <= Decimal("0.5")


@given(amount=amounts, smaller=amounts, percent=percents)
def test_percent_discount_grows_with_the_amount(amount: int, smaller: int, percent: Decimal) -> None:
    low, high = sorted((amount, smaller))
    coupon = _coupon(percent_off=percent)
    assert discount_amount(coupon, low, "usd") <= discount_amount(coupon, high, "usd")


@given(amount=amounts, off=st.integers(min_value=1, max_value=999_999_999_999))
def test_amount_off_is_capped_at_the_amount(amount: int, off: int) -> None:
    assert discount_amount(_coupon(amount_off=off, currency="eur"), amount, "eur") == min(amount, off)
