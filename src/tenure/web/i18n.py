"""Languages: gettext catalogs for en/fr/de/id, locale negotiation, money and dates per locale (Babel)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

from tenure import money

SUPPORTED_LOCALES: tuple[str, ...] = ("en", "fr", "de", "id")
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


def _compiled(po_path: Path, locale: str) -> Translations:
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def translations(locale: str) -> NullTranslations:
    """All of `locale`'s catalogs (`<area>.po`: portal, emails, checkout…) merged and compiled in
    memory, so each area keeps its own file and no build step is needed."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    paths = sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"))
    if not paths:
        return NullTranslations()
    merged = _compiled(paths[0], locale)
    for path in paths[1:]:
        merged.merge(_compiled(path, locale))
    return merged


def supported(tag: str | None) -> str | None:
    """`fr-CA` -> `fr`; None for languages Tenure does not speak."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return language if language in SUPPORTED_LOCALES else None


def parse_accept_language(header: str | None) -> list[str]:
    """Languages of an `Accept-Language` header, best first."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(*, session_locale: str | None, preferred: list[str] | None, accept_language: str | None) -> str:
    """The session's locale, else the customer's `preferred_locales`, else `Accept-Language`, else English."""
    for candidate in [session_locale, *(preferred or []), *parse_accept_language(accept_language)]:
        found = supported(candidate)
        if found:
            return found
    return DEFAULT_LOCALE


def format_money(amount: int, currency: str, locale: str) -> str:
    value = Decimal(amount).scaleb(-money.exponent(currency))
    return format_currency(value, currency.upper(), locale=Locale.parse(locale))


def format_day(timestamp: int, locale: str) -> str:
    return format_date(
        datetime.fromtimestamp(timestamp, tz=UTC).date(), format="long", locale=Locale.parse(locale)
    )


def format_moment(timestamp: int, locale: str) -> str:
    return format_datetime(
        datetime.fromtimestamp(timestamp, tz=UTC), format="medium", tzinfo=UTC, locale=Locale.parse(locale)
    )
