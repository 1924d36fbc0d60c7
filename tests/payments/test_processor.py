"""The built-in test processor and its checks, without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tenure.api.errors import CardError, InvalidRequest, MissingParameter
from tenure.clock import FrozenClock
from tenure.payments.models import PaymentMethod
from tenure.payments.processor import (
    Behaviour,
    CardDeclined,
    ChargeOutcome,
    PaymentMethodDetails,
    PaymentMethodType,
    TestProcessor,
    card_brand,
    check_expiry,
    iban_valid,
    luhn_valid,
    normalize_iban,
)

NOW = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp())


@pytest.fixture
def processor() -> TestProcessor:
    return TestProcessor(pepper="pepper", clock=FrozenClock(NOW))


def card(number: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "exp_month": 12, "exp_year": 2030, **extra}


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "5555555555554444", "378282246310005", "4000000000000341", "4000000000000002"],
)
def test_luhn_accepts_real_test_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "4242424242424224", "1234567812345678", "42a2", ""])
def test_luhn_refuses_mistyped_numbers(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3056930009020004", "diners"),
        ("3566002020360505", "jcb"),
        ("6200000000000005", "unionpay"),
        ("9999999999999995", "unknown"),
    ],
)
def test_card_brand_from_leading_digits(number: str, brand: str) -> None:
    assert card_brand(number) == brand


@pytest.mark.parametrize(
    "iban", ["DE89370400440532013000", "DE62370400440532013001", "AT611904300234573201", "NL39RABO0300065264"]
)
def test_iban_checksum_accepts_valid_ibans(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013001",  # one digit changed: mod 97 fails
        "DE8937040044053201300",  # a digit short for Germany
        "US89370400440532013000",  # not a SEPA country
        "DE89 3704",
        "",
    ],
)
def test_iban_checksum_refuses_invalid_ibans(iban: str) -> None:
    assert not iban_valid(iban)


def test_iban_is_normalized_before_checking() -> None:
    assert normalize_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"


def test_expiry_checks() -> None:
    assert check_expiry(12, 30, now=NOW) == (12, 2030)
    assert check_expiry("11", "2026", now=NOW) == (11, 2026)  # this month is still valid
    with pytest.raises(CardError) as month:
        check_expiry(13, 2030, now=NOW)
    assert (month.value.code, month.value.param) == ("invalid_expiry_month", "card[exp_month]")
    with pytest.raises(CardError) as passed:
        check_expiry(10, 2026, now=NOW)
    assert passed.value.code == "invalid_expiry_month"
    with pytest.raises(CardError) as year:
        check_expiry(12, 2025, now=NOW)
    assert (year.value.code, year.value.param) == ("invalid_expiry_year", "card[exp_year]")
    with pytest.raises(InvalidRequest) as not_a_number:
        check_expiry("soon", 2030, now=NOW)
    assert not_a_number.value.param == "card[exp_month]"


def test_tokens_resolve_to_their_test_cards(processor: TestProcessor) -> None:
    visa = processor.resolve_token("pm_card_visa")
    assert visa is not None
    assert (visa.card_brand, visa.card_last4, visa.behaviour) == ("visa", "4242", Behaviour.SUCCEED)
    assert visa.card_exp_year == 2031
    mastercard = processor.resolve_token("pm_card_mastercard")
    amex = processor.resolve_token("pm_card_amex")
    assert mastercard is not None and amex is not None
    assert (mastercard.card_brand, mastercard.card_last4) == ("mastercard", "4444")
    assert (amex.card_brand, amex.card_last4) == ("amex", "0005")
    declined = processor.resolve_token("pm_card_chargeDeclined")
    failing = processor.resolve_token("pm_card_chargeCustomerFail")
    assert declined is not None and failing is not None
    assert (declined.card_last4, declined.behaviour) == ("0002", Behaviour.DECLINE)
    assert (failing.card_last4, failing.behaviour) == ("0341", Behaviour.FAIL)
    assert processor.resolve_token("tok_visa") == visa
    assert processor.resolve_token("pm_card_nope") is None
    assert processor.resolve_token("pm_1234") is None


def test_a_token_and_its_number_share_a_fingerprint(processor: TestProcessor) -> None:
    from_token = processor.resolve_token("pm_card_visa")
    from_number = processor.create_payment_method(type="card", details=card("4242 4242 4242 4242"))
    other = processor.create_payment_method(type="card", details=card("5555555555554444"))
    assert from_token is not None
    assert from_token.fingerprint == from_number.fingerprint
    assert other.fingerprint != from_number.fingerprint
    peppered = TestProcessor(pepper="other", clock=FrozenClock(NOW))
    assert peppered.create_payment_method(type="card", details=card("4242424242424242")).fingerprint != (
        from_number.fingerprint
    )


def test_card_details_keep_no_full_number(processor: TestProcessor) -> None:
    details = processor.create_payment_method(type="card", details=card("4242424242424242", cvc="123"))
    assert details == PaymentMethodDetails(
        type=PaymentMethodType.CARD,
        behaviour=Behaviour.SUCCEED,
        card_brand="visa",
        card_last4="4242",
        card_exp_month=12,
        card_exp_year=2030,
        card_country="US",
        card_funding="credit",
        fingerprint=details.fingerprint,
    )
    assert "4242424242424242" not in repr(details)
    assert "123" not in repr(details).replace(str(details.fingerprint), "")


def test_raw_declined_number_is_refused_at_creation(processor: TestProcessor) -> None:
    with pytest.raises(CardDeclined) as declined:
        processor.create_payment_method(type="card", details=card("4000000000000002"))
    assert declined.value.status_code == 402
    assert declined.value.to_dict()["error"] == {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
    }


def test_raw_failing_number_attaches_but_records_failure(processor: TestProcessor) -> None:
    details = processor.create_payment_method(type="card", details=card("4000000000000341"))
    assert details.behaviour == Behaviour.FAIL


@pytest.mark.parametrize(
    ("details", "error", "code", "param"),
    [
        (card("4242424242424241"), CardError, "incorrect_number", "card[number]"),
        (card("4242"), CardError, "invalid_number", "card[number]"),
        (card("4242x24242424242"), CardError, "invalid_number", "card[number]"),
        (card("4242424242424242", exp_year=2020), CardError, "invalid_expiry_year", "card[exp_year]"),
        (card("4242424242424242", cvc="12"), CardError, "invalid_cvc", "card[cvc]"),
        (card("378282246310005", cvc="123"), CardError, "invalid_cvc", "card[cvc]"),
        ({"exp_month": 1, "exp_year": 2030}, MissingParameter, "parameter_missing", "card[number]"),
        ({"number": "4242424242424242"}, MissingParameter, "parameter_missing", "card[exp_month]"),
        (
            {"token": "tok_visa", "number": "4242424242424242"},
            InvalidRequest,
            "parameter_invalid",
            "card[number]",
        ),
        ({"token": "tok_nope"}, InvalidRequest, "resource_missing", "card[token]"),
    ],
)
def test_invalid_cards(
    processor: TestProcessor, details: dict[str, Any], error: type[Exception], code: str, param: str
) -> None:
    with pytest.raises(error) as raised:
        processor.create_payment_method(type="card", details=details)
    assert isinstance(raised.value, InvalidRequest | CardError | MissingParameter)
    assert (raised.value.code, raised.value.param) == (code, param)
    assert "4242424242424242" not in raised.value.message


def test_sepa_debit(processor: TestProcessor) -> None:
    details = processor.create_payment_method(
        type="sepa_debit", details={"iban": "DE89 3704 0044 0532 0130 00"}
    )
    assert (details.sepa_country, details.sepa_bank_code, details.sepa_last4) == ("DE", "37040044", "3000")
    assert details.behaviour == Behaviour.SUCCEED
    assert "0532013000" not in repr(details)
    failing = processor.create_payment_method(type="sepa_debit", details={"iban": "DE62370400440532013001"})
    assert failing.behaviour == Behaviour.FAIL
    with pytest.raises(InvalidRequest) as invalid:
        processor.create_payment_method(type="sepa_debit", details={"iban": "DE89370400440532013001"})
    assert (invalid.value.code, invalid.value.param) == ("invalid_bank_account_iban", "sepa_debit[iban]")
    with pytest.raises(MissingParameter):
        processor.create_payment_method(type="sepa_debit", details={})


def test_paypal(processor: TestProcessor) -> None:
    details = processor.create_payment_method(type="paypal", details={"payer_email": "jenny@example.com"})
    assert (details.type, details.paypal_payer_email, details.behaviour) == (
        "paypal",
        "jenny@example.com",
        Behaviour.SUCCEED,
    )
    with pytest.raises(InvalidRequest) as invalid:
        processor.create_payment_method(type="paypal", details={"payer_email": "not an email"})
    assert invalid.value.param == "paypal[payer_email]"
    with pytest.raises(InvalidRequest) as unknown:
        processor.create_payment_method(type="ideal", details={})
    assert unknown.value.param == "type"


def _stored(details: PaymentMethodDetails) -> PaymentMethod:
    """A payment method as the service would build it (not saved: charging needs no database)."""
    return PaymentMethod(type=details.type, behaviour=details.behaviour, card_last4=details.card_last4)


@pytest.mark.parametrize(
    ("token", "outcome", "decline_code"),
    [
        ("pm_card_visa", ChargeOutcome.SUCCEEDED, None),
        ("pm_card_mastercard", ChargeOutcome.SUCCEEDED, None),
        ("pm_card_amex", ChargeOutcome.SUCCEEDED, None),
        ("pm_card_chargeDeclined", ChargeOutcome.DECLINED, "generic_decline"),
        ("pm_card_chargeCustomerFail", ChargeOutcome.FAILED, None),
    ],
)
def test_charge_outcomes_follow_the_tokens(
    processor: TestProcessor, token: str, outcome: ChargeOutcome, decline_code: str | None
) -> None:
    details = processor.resolve_token(token)
    assert details is not None
    result = processor.charge(_stored(details), amount=2000, currency="eur", idempotency_key=f"inv_1:{token}")
    assert result.outcome == outcome
    assert result.decline_code == decline_code
    assert result.charge_id.startswith("ch_")
    assert (result.failure_message is None) == (outcome == ChargeOutcome.SUCCEEDED)


def test_charge_outcomes_for_ibans(processor: TestProcessor) -> None:
    good = processor.create_payment_method(type="sepa_debit", details={"iban": "DE89370400440532013000"})
    bad = processor.create_payment_method(type="sepa_debit", details={"iban": "DE62370400440532013001"})
    assert processor.charge(_stored(good), amount=100, currency="eur", idempotency_key="a").outcome == (
        ChargeOutcome.SUCCEEDED
    )
    failed = processor.charge(_stored(bad), amount=100, currency="eur", idempotency_key="b")
    assert failed.outcome == ChargeOutcome.FAILED
    assert failed.failure_message is not None and "bank" in failed.failure_message


def test_charge_is_idempotent_per_key(processor: TestProcessor) -> None:
    details = processor.resolve_token("pm_card_visa")
    assert details is not None
    pm = _stored(details)
    first = processor.charge(pm, amount=500, currency="usd", idempotency_key="invoice-1-attempt-1")
    again = processor.charge(pm, amount=500, currency="usd", idempotency_key="invoice-1-attempt-1")
    other = processor.charge(pm, amount=500, currency="usd", idempotency_key="invoice-1-attempt-2")
    assert first == again
    assert other.charge_id != first.charge_id
    with pytest.raises(ValueError):
        processor.charge(pm, amount=0, currency="usd", idempotency_key="zero")
    with pytest.raises(ValueError):
        processor.charge(pm, amount=100, currency="usd", idempotency_key="")
