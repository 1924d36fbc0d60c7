"""Every customer-facing string exists in French, German and Indonesian, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tenure.web.i18n import LOCALE_DIR, SUPPORTED_LOCALES, negotiate, parse_accept_language

SRC = Path(__file__).resolve().parents[2] / "src" / "tenure"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted_ids() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(SRC), method_map=method_map, options_map=options, keywords={"_": None, "gettext": None}
    ):
        if isinstance(message, str) and message:
            found.add(message)
    return found


@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED_LOCALES if loc != "en"])
def test_catalog_is_complete_and_current(locale: str) -> None:
    translated: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        translated.update({str(m.id): str(m.string) for m in catalog if m.id})
    missing = extracted_ids() - translated.keys()
    assert not missing, (
        f"strings not in the {locale} catalog (run `make i18n` and translate): {sorted(missing)}"
    )
    for msgid, text in translated.items():
        assert text.strip(), f"{locale}: untranslated {msgid!r}"
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), f"{locale}: {msgid!r}"


def test_locale_negotiation_order() -> None:
    assert negotiate(session_locale="de", preferred=["fr"], accept_language="id") == "de"
    assert negotiate(session_locale=None, preferred=["es", "fr-CA"], accept_language="id") == "fr"
    assert negotiate(session_locale=None, preferred=[], accept_language="es;q=1, id;q=0.8, en;q=0.5") == "id"
    assert negotiate(session_locale=None, preferred=None, accept_language="ja") == "en"
    assert parse_accept_language("en;q=0.1, de, fr;q=0.5") == ["de", "fr", "en"]
