"""The checkout's plain rules, without a database: reading the form, the summary's arithmetic."""

from __future__ import annotations

from decimal import Decimal

from tenure.api.errors import CardError, InvalidRequest
from tenure.checkout.form import error_fields, read_submission, read_values
from tenure.checkout.summary import applies_at, spread_discount, trial_end_for
from tenure.coupons.models import Coupon
from tenure.payments.processor import CardDeclined
from tenure.subscriptions.periods import DAY

METHODS = ["card", "sepa_debit", "paypal"]
NOW = 1_790_000_000


def form(**fields: str) -> dict[str, str]:
    return {"email": "ada@example.com", "name": "Ada", "method": "card", **fields}


def test_card_fields_are_normalized() -> None:
    values = read_values(form(), methods=METHODS, locked_email=None)
    submission = read_submission(
        form(card_number="4242-4242 4242 4242", card_expiry=" 7/2031 ", card_cvc="123"), values, locale="fr"
    )
    assert submission is not None
    payment = submission.payment
    assert (payment.card_number, payment.exp_month, payment.exp_year, payment.cvc) == (
        "4242424242424242",
        7,
        2031,
        "123",
    )
    assert submission.locale == "fr" and submission.promotion_code is None


def test_each_bad_field_gets_a_code() -> None:
    values = read_values(
        form(email="nope", name="x" * 257, card_expiry="1/"), methods=METHODS, locked_email=None
    )
    assert read_submission(form(card_expiry="1/"), values, locale="en") is None
    assert values.errors == {
        "email": "invalid",
        "name": "too_long",
        "card_number": "required",
        "card_expiry": "invalid",
        "card_cvc": "required",
    }


def test_a_locked_email_wins_and_one_method_is_chosen_for_the_customer() -> None:
    values = read_values(
        form(email="other@example.com", method=""), methods=["paypal"], locked_email="ada@x.io"
    )
    assert (values.email, values.method) == ("ada@x.io", "paypal")
    submission = read_submission({}, values, locale="en")
    assert submission is not None and submission.payment.payer_email == "ada@x.io"


def test_refusals_map_to_their_field() -> None:
    declined = CardDeclined("Your card was declined.", decline_code="generic_decline")
    assert error_fields(declined, method="card") == {"card_number": "declined"}
    assert error_fields(CardError("failed", code="card_declined"), method="sepa_debit") == {
        "iban": "declined"
    }
    assert error_fields(CardError("failed", code="card_declined"), method="paypal") == {"form": "declined"}
    wrong = CardError("Your card number is incorrect.", param="card[number]", code="incorrect_number")
    assert error_fields(wrong, method="card") == {"card_number": "incorrect"}
    expiry = CardError("bad", param="card[exp_year]", code="invalid_expiry_year")
    assert error_fields(expiry, method="card") == {"card_expiry": "invalid"}
    used_up = InvalidRequest("used up", param="discounts[0][promotion_code]")
    assert error_fields(used_up, method="card") == {"promotion_code": "invalid"}
    assert error_fields(InvalidRequest("other", param="items[0][price]"), method="card") == {"form": "failed"}


def test_discounts_spread_over_lines_like_an_invoice() -> None:
    quarter = Coupon(percent_off=Decimal("25"), duration="once")
    assert spread_discount(quarter, [2000, 999], "eur") == 500 + 250
    ten = Coupon(amount_off=1000, currency="eur", duration="once")
    assert spread_discount(ten, [600, 600], "eur") == 1000
    assert spread_discount(ten, [600], "eur") == 600
    assert spread_discount(ten, [2000], "usd") == 0  # another currency takes nothing off


def test_repeating_discounts_and_trials() -> None:
    three_months = Coupon(percent_off=Decimal("10"), duration="repeating", duration_in_months=3)
    assert applies_at(three_months, applied_at=NOW, payment_at=NOW + 30 * DAY)
    assert not applies_at(three_months, applied_at=NOW, payment_at=NOW + 120 * DAY)
    assert applies_at(
        Coupon(percent_off=Decimal("10"), duration="once"), applied_at=NOW, payment_at=NOW + 400 * DAY
    )
    assert trial_end_for({"trial_period_days": 14}, NOW) == NOW + 14 * DAY
    assert trial_end_for({"trial_end": NOW + 5}, NOW) == NOW + 5
    assert trial_end_for({}, NOW) is None
