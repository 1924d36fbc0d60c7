"""Prices: an amount in a currency, once or every interval, for one product."""
