"""The payment-processor interface, and the built-in test processor that runs everything offline.

A processor turns raw payment details (a card number, an IBAN) into what Tenure may store — a
brand, the last four digits, a keyed fingerprint — and charges stored payment methods. The raw
number never leaves this module: nothing here returns it and nothing stores it.

`TestProcessor` is a real implementation, not a double: it validates input as a card network
would (Luhn, expiry, IBAN checksum) and understands Stripe's test tokens and numbers, so a
developer gets the outcomes they expect from Stripe's test mode (`pm_card_chargeDeclined`…).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from tenure.api.errors import CardError, InvalidRequest, MissingParameter
from tenure.clock import Clock
from tenure.customers.schemas import valid_email

if TYPE_CHECKING:
    from tenure.payments.models import PaymentMethod
    from tenure.runtime import Runtime


class PaymentMethodType(StrEnum):
    CARD = "card"
    SEPA_DEBIT = "sepa_debit"
    PAYPAL = "paypal"


class Behaviour(StrEnum):
    """What the test processor does when a payment method is charged (recorded at creation)."""

    SUCCEED = "succeed"
    DECLINE = "decline"
    FAIL = "fail"


class ChargeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"


@dataclass(frozen=True)
class ChargeResult:
    outcome: ChargeOutcome
    charge_id: str
    decline_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class PaymentMethodDetails:
    """What may be stored about a payment method: never a full card number or IBAN."""

    type: PaymentMethodType
    behaviour: Behaviour = Behaviour.SUCCEED
    card_brand: str | None = None
    card_last4: str | None = None
    card_exp_month: int | None = None
    card_exp_year: int | None = None
    card_country: str | None = None
    card_funding: str | None = None
    fingerprint: str | None = None
    sepa_bank_code: str | None = None
    sepa_country: str | None = None
    sepa_last4: str | None = None
    paypal_payer_email: str | None = None


class CardDeclined(CardError):
    """A 402 `card_declined`, carrying Stripe's `decline_code`."""

    code = "card_declined"

    def __init__(self, message: str, *, decline_code: str, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.decline_code = decline_code

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["decline_code"] = self.decline_code
        return body


class PaymentProcessor(Protocol):
    def create_payment_method(self, *, type: str, details: Mapping[str, Any]) -> PaymentMethodDetails:
        """Validate raw details (the `card`, `sepa_debit` or `paypal` hash) and return what may be stored.

        Raises `CardError` (402) or `InvalidRequest` (400) naming the bad parameter.
        """
        ...

    def resolve_token(self, token: str) -> PaymentMethodDetails | None:
        """The details behind a token such as `pm_card_visa` or `tok_visa`, or None if it is not one."""
        ...

    def charge(
        self, payment_method: PaymentMethod, *, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge `amount` minor units; the same `idempotency_key` must give the same charge."""
        ...


# ---------------------------------------------------------------------------------------------
# Card numbers


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every card number carries (catches a mistyped digit or swapped pair)."""
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The network from the number's leading digits (Stripe's brand names)."""
    if number.startswith("4"):
        return "visa"
    two, four = int(number[:2]), int(number[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    if two in (36, 38, 39) or 300 <= int(number[:3]) <= 305:
        return "diners"
    if 3528 <= four <= 3589:
        return "jcb"
    if two == 62:
        return "unionpay"
    return "unknown"


@dataclass(frozen=True)
class _TestCard:
    number: str
    funding: str = "credit"
    country: str = "US"
    behaviour: Behaviour = Behaviour.SUCCEED
    declined_at_creation: bool = False


# Stripe's published test numbers, with what they do in Stripe's test mode.
TEST_CARDS: dict[str, _TestCard] = {
    card.number: card
    for card in (
        _TestCard("4242424242424242"),
        _TestCard("4000056655665556", funding="debit"),
        _TestCard("5555555555554444"),
        _TestCard("5200828282828210", funding="debit"),
        _TestCard("378282246310005"),
        _TestCard("6011111111111117"),
        _TestCard("4000000000000341", behaviour=Behaviour.FAIL),
        _TestCard("4000000000000002", behaviour=Behaviour.DECLINE, declined_at_creation=True),
    )
}

# Test tokens stand for a card without its number ever being sent. Unlike the raw declined number,
# `pm_card_chargeDeclined` attaches fine and only its charges decline, as in Stripe.
_TOKEN_CARDS: dict[str, tuple[str, Behaviour]] = {
    "visa": ("4242424242424242", Behaviour.SUCCEED),
    "visa_debit": ("4000056655665556", Behaviour.SUCCEED),
    "mastercard": ("5555555555554444", Behaviour.SUCCEED),
    "mastercard_debit": ("5200828282828210", Behaviour.SUCCEED),
    "amex": ("378282246310005", Behaviour.SUCCEED),
    "discover": ("6011111111111117", Behaviour.SUCCEED),
    "chargeDeclined": ("4000000000000002", Behaviour.DECLINE),
    "chargeCustomerFail": ("4000000000000341", Behaviour.FAIL),
}
TEST_TOKENS: dict[str, tuple[str, Behaviour]] = {
    **{f"pm_card_{name}": card for name, card in _TOKEN_CARDS.items()},
    **{f"tok_{name}": card for name, card in _TOKEN_CARDS.items()},
}

# ---------------------------------------------------------------------------------------------
# IBANs

# Lengths of the IBANs of the SEPA countries (ISO 13616 registry).
SEPA_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
}  # fmt: skip

# Where the bank code sits in the BBAN (after country and check digits), for the common countries.
_BANK_CODE_SPAN: dict[str, tuple[int, int]] = {
    "DE": (0, 8), "AT": (0, 5), "FR": (0, 5), "ES": (0, 4), "NL": (0, 4), "BE": (0, 3),
    "IT": (1, 6), "PT": (0, 4), "LU": (0, 3), "IE": (0, 4), "FI": (0, 3), "GB": (0, 4),
}  # fmt: skip

TEST_IBANS: dict[str, Behaviour] = {
    "DE89370400440532013000": Behaviour.SUCCEED,
    "DE62370400440532013001": Behaviour.FAIL,
    "AT611904300234573201": Behaviour.SUCCEED,
    "FR1420041010050500013M02606": Behaviour.SUCCEED,
    "NL39RABO0300065264": Behaviour.SUCCEED,
}

_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def normalize_iban(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw).upper()


def iban_valid(iban: str) -> bool:
    """A SEPA IBAN of its country's length whose ISO 7064 mod-97 checksum is 1."""
    if not _IBAN_SHAPE.match(iban) or SEPA_IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


def _iban_bank_code(iban: str) -> str | None:
    span = _BANK_CODE_SPAN.get(iban[:2])
    if span is None:
        return None
    return iban[4 + span[0] : 4 + span[1]]


# ---------------------------------------------------------------------------------------------
# Input checks shared by every processor


def _as_int(value: Any, param: str) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(f"Invalid integer: {value}", param=param)
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidRequest(f"Invalid integer: {value}", param=param) from None


def check_expiry(exp_month: Any, exp_year: Any, *, now: int) -> tuple[int, int]:
    """A valid expiry that has not passed at `now`; two-digit years are this century's."""
    month = _as_int(exp_month, "card[exp_month]")
    year = _as_int(exp_year, "card[exp_year]")
    if not 1 <= month <= 12:
        raise CardError(
            "Your card's expiration month is invalid.", param="card[exp_month]", code="invalid_expiry_month"
        )
    if 0 <= year < 100:
        year += 2000
    today = datetime.fromtimestamp(now, UTC)
    if year < today.year or year > today.year + 50:
        raise CardError(
            "Your card's expiration year is invalid.", param="card[exp_year]", code="invalid_expiry_year"
        )
    if year == today.year and month < today.month:
        raise CardError(
            "Your card's expiration month is invalid.", param="card[exp_month]", code="invalid_expiry_month"
        )
    return month, year


# ---------------------------------------------------------------------------------------------
# The built-in processor


class TestProcessor:
    """Tenure's own processor: validates like a card network, charges by the recorded behaviour.

    Fingerprints are keyed with `pepper` (a server secret), so the same card gives the same
    fingerprint here while a leaked fingerprint cannot be brute-forced back into a number.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, pepper: str, clock: Clock) -> None:
        self._pepper = pepper.encode()
        self._clock = clock

    def fingerprint(self, kind: str, secret: str) -> str:
        digest = hmac.new(self._pepper, f"{kind}:{secret}".encode(), hashlib.sha256).hexdigest()
        return digest[:16]

    # -- payment methods

    def create_payment_method(self, *, type: str, details: Mapping[str, Any]) -> PaymentMethodDetails:
        if type == PaymentMethodType.CARD:
            return self._card(details)
        if type == PaymentMethodType.SEPA_DEBIT:
            return self._sepa_debit(details)
        if type == PaymentMethodType.PAYPAL:
            return self._paypal(details)
        raise InvalidRequest(f"Invalid type: {type} is not a supported payment method type.", param="type")

    def resolve_token(self, token: str) -> PaymentMethodDetails | None:
        if token not in TEST_TOKENS:
            return None
        number, behaviour = TEST_TOKENS[token]
        year = datetime.fromtimestamp(self._clock.now(), UTC).year + 5
        return self._card_details(number, exp_month=12, exp_year=year, behaviour=behaviour)

    def _card(self, details: Mapping[str, Any]) -> PaymentMethodDetails:
        token = details.get("token")
        if token is not None:
            extra = sorted(key for key in details if key != "token")
            if extra:
                raise InvalidRequest(
                    f"You cannot pass card[{extra[0]}] together with card[token].", param=f"card[{extra[0]}]"
                )
            resolved = self.resolve_token(str(token))
            if resolved is None:
                raise InvalidRequest(
                    f"No such token: '{token}'", param="card[token]", code="resource_missing"
                )
            return resolved
        for required in ("number", "exp_month", "exp_year"):
            if details.get(required) in (None, ""):
                raise MissingParameter(f"card[{required}]")
        number = re.sub(r"[\s-]", "", str(details["number"]))
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise CardError(
                "Your card number is not a valid credit card number.",
                param="card[number]",
                code="invalid_number",
            )
        if not luhn_valid(number):
            raise CardError("Your card number is incorrect.", param="card[number]", code="incorrect_number")
        month, year = check_expiry(details["exp_month"], details["exp_year"], now=self._clock.now())
        cvc = details.get("cvc")
        if cvc is not None:
            cvc_length = 4 if card_brand(number) == "amex" else 3
            if not (isinstance(cvc, str | int) and str(cvc).isdigit() and len(str(cvc)) == cvc_length):
                raise CardError(
                    "Your card's security code is invalid.", param="card[cvc]", code="invalid_cvc"
                )
        test_card = TEST_CARDS.get(number)
        if test_card is not None and test_card.declined_at_creation:
            raise CardDeclined("Your card was declined.", decline_code="generic_decline")
        behaviour = test_card.behaviour if test_card else Behaviour.SUCCEED
        return self._card_details(number, exp_month=month, exp_year=year, behaviour=behaviour)

    def _card_details(
        self, number: str, *, exp_month: int, exp_year: int, behaviour: Behaviour
    ) -> PaymentMethodDetails:
        test_card = TEST_CARDS.get(number)
        return PaymentMethodDetails(
            type=PaymentMethodType.CARD,
            behaviour=behaviour,
            card_brand=card_brand(number),
            card_last4=number[-4:],
            card_exp_month=exp_month,
            card_exp_year=exp_year,
            card_country=test_card.country if test_card else None,
            card_funding=test_card.funding if test_card else "unknown",
            fingerprint=self.fingerprint("card", number),
        )

    def _sepa_debit(self, details: Mapping[str, Any]) -> PaymentMethodDetails:
        raw = details.get("iban")
        if raw in (None, ""):
            raise MissingParameter("sepa_debit[iban]")
        iban = normalize_iban(str(raw))
        if not iban_valid(iban):
            raise InvalidRequest(
                "The IBAN you provided is invalid: check the country code, length and check digits.",
                param="sepa_debit[iban]",
                code="invalid_bank_account_iban",
            )
        return PaymentMethodDetails(
            type=PaymentMethodType.SEPA_DEBIT,
            behaviour=TEST_IBANS.get(iban, Behaviour.SUCCEED),
            fingerprint=self.fingerprint("iban", iban),
            sepa_bank_code=_iban_bank_code(iban),
            sepa_country=iban[:2],
            sepa_last4=iban[-4:],
        )

    def _paypal(self, details: Mapping[str, Any]) -> PaymentMethodDetails:
        email = details.get("payer_email")
        if email is not None and not (isinstance(email, str) and valid_email(email)):
            raise InvalidRequest(f"Invalid email address: {email}", param="paypal[payer_email]")
        return PaymentMethodDetails(type=PaymentMethodType.PAYPAL, paypal_payer_email=email)

    # -- charges

    def charge(
        self, payment_method: PaymentMethod, *, amount: int, currency: str, idempotency_key: str
    ) -> ChargeResult:
        if amount <= 0:
            raise ValueError(f"a charge needs a positive amount, got {amount}")
        if not idempotency_key:
            raise ValueError("a charge needs an idempotency key")
        # Derived from the key, so a retried charge (after a crash, say) is the same charge.
        charge_id = "ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        behaviour = Behaviour(payment_method.behaviour)
        if behaviour is Behaviour.DECLINE:
            return ChargeResult(
                ChargeOutcome.DECLINED,
                charge_id,
                decline_code="generic_decline",
                failure_message="Your card was declined.",
            )
        if behaviour is Behaviour.FAIL:
            return ChargeResult(
                ChargeOutcome.FAILED,
                charge_id,
                failure_message=_FAILURE_MESSAGES.get(payment_method.type, "The payment failed."),
            )
        return ChargeResult(ChargeOutcome.SUCCEEDED, charge_id)


_FAILURE_MESSAGES: dict[str, str] = {
    PaymentMethodType.CARD: "The customer's card was declined by the issuer.",
    PaymentMethodType.SEPA_DEBIT: "The customer's bank returned the debit (insufficient funds).",
    PaymentMethodType.PAYPAL: "The customer's PayPal payment failed.",
}


def _default_factory(runtime: Runtime) -> PaymentProcessor:
    return TestProcessor(pepper=runtime.settings.resolved_secret_key(), clock=runtime.clock)


# The one place to plug a real processor in: replace this factory (e.g. at start-up, from settings).
processor_factory = _default_factory


def get_processor(runtime: Runtime) -> PaymentProcessor:
    """The processor this Tenure charges through (the built-in `TestProcessor` unless replaced)."""
    return processor_factory(runtime)
