from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tenure import money


def test_half_away_from_zero() -> None:
    assert money.round_minor(Fraction(5, 2)) == 3
    assert money.round_minor(Fraction(-5, 2)) == -3
    assert money.round_minor(Fraction(7, 3)) == 2
    assert money.round_minor(Decimal("0.5")) == 1
    assert money.round_minor(Decimal("-0.49")) == 0


def test_exponents() -> None:
    assert (money.exponent("jpy"), money.exponent("EUR"), money.exponent("kwd")) == (0, 2, 3)
    assert money.format_plain(1234, "eur") == "12.34 EUR"
    assert money.format_plain(1234, "jpy") == "1234 JPY"
    assert money.format_plain(1234, "kwd") == "1.234 KWD"


def test_percent_of() -> None:
    assert money.percent_of(1999, "25") == 500  # 499.75
    assert money.percent_of(1000, 25.5) == 255


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    used=st.integers(min_value=0, max_value=10**8),
    total=st.integers(min_value=1, max_value=10**8),
)
def test_prorate_never_exceeds_the_amount(amount: int, used: int, total: int) -> None:
    share = money.prorate(amount, min(used, total), total)
    assert isinstance(share, int)
    assert 0 <= share <= amount


@given(numerator=st.integers(min_value=-(10**15), max_value=10**15), denominator=st.integers(1, 10**6))
def test_rounding_is_within_half_a_unit(numerator: int, denominator: int) -> None:
    exact = Fraction(numerator, denominator)
    rounded = money.round_minor(exact)
    assert abs(rounded - exact) <= Fraction(1, 2)
    assert money.round_minor(-exact) == -rounded
