"""Money: integer minor units per ISO 4217 currency. The only module that rounds."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

# Currencies whose minor unit is not the cent. Everything else has exponent 2.
_EXPONENTS: dict[str, int] = {
    "bif": 0,
    "clp": 0,
    "djf": 0,
    "gnf": 0,
    "jpy": 0,
    "kmf": 0,
    "krw": 0,
    "mga": 0,
    "pyg": 0,
    "rwf": 0,
    "ugx": 0,
    "vnd": 0,
    "vuv": 0,
    "xaf": 0,
    "xof": 0,
    "xpf": 0,
    "bhd": 3,
    "jod": 3,
    "kwd": 3,
    "omr": 3,
    "tnd": 3,
}

# A pragmatic list: ISO 4217 codes we accept for prices and coupons.
SUPPORTED_CURRENCIES: frozenset[str] = frozenset(
    {
        "usd",
        "eur",
        "gbp",
        "chf",
        "cad",
        "aud",
        "nzd",
        "sek",
        "nok",
        "dkk",
        "pln",
        "czk",
        "huf",
        "ron",
        "bgn",
        "idr",
        "sgd",
        "myr",
        "thb",
        "php",
        "inr",
        "hkd",
        "mxn",
        "brl",
        "zar",
        "try",
        "ils",
        "aed",
        "sar",
        "twd",
        "cny",
    }
    | set(_EXPONENTS)
)


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.lower(), 2)


def is_supported(currency: str) -> bool:
    return currency.lower() in SUPPORTED_CURRENCIES


def round_minor(amount: Fraction | Decimal | int) -> int:
    """Round an exact amount of minor units to a whole unit, half away from zero."""
    if isinstance(amount, int):
        return amount
    exact = Fraction(amount)
    magnitude = abs(exact)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    return -whole if exact < 0 else whole


def percent_of(amount: int, percent: Decimal | float | str) -> int:
    """`percent`% of `amount` minor units, rounded half away from zero."""
    return round_minor(Fraction(amount) * Fraction(Decimal(str(percent))) / 100)


def prorate(amount: int, numerator: int, denominator: int) -> int:
    """`amount` × numerator/denominator, rounded half away from zero; never more than `amount`."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    share = round_minor(Fraction(amount) * numerator / denominator)
    return max(min(share, amount), 0) if amount >= 0 else min(max(share, amount), 0)


def format_plain(amount: int, currency: str) -> str:
    """`1234, "eur"` -> `"12.34 EUR"`; locale-aware formatting lives with the pages (Babel)."""
    exp = exponent(currency)
    value = Decimal(amount).scaleb(-exp)
    return f"{value:.{exp}f} {currency.upper()}"
