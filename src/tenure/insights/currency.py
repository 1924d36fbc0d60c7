"""One reporting currency for every amount in the insights; others converted with the operator's rates.

Rates come from `TENURE_FX_RATES` ("usd=0.92,gbp=1.17": units of the reporting currency per unit).
An amount in a currency with no rate is left out of the totals and its currency listed in
`unconverted_currencies`, never silently counted at 1:1.
"""

from __future__ import annotations

from fractions import Fraction

from tenure import money


def parse_rates(text: str) -> dict[str, Fraction]:
    rates: dict[str, Fraction] = {}
    for part in text.split(","):
        code, _, value = part.strip().partition("=")
        if code and value:
            rates[code.strip().lower()] = Fraction(value.strip())
    return rates


class Converter:
    def __init__(self, reporting: str, rates: dict[str, Fraction]) -> None:
        self.reporting = reporting.lower()
        self.rates = {**rates, self.reporting: Fraction(1)}
        self.unconverted: set[str] = set()

    def __call__(self, amount: int, currency: str) -> int:
        """`amount` minor units of `currency` in minor units of the reporting currency (0 if no rate)."""
        currency = currency.lower()
        rate = self.rates.get(currency)
        if rate is None:
            self.unconverted.add(currency)
            return 0
        shift = money.exponent(self.reporting) - money.exponent(currency)
        return money.round_minor(Fraction(amount) * rate * Fraction(10) ** shift)
