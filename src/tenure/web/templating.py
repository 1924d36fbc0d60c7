"""Jinja2: autoescaped HTML, one environment per locale (its gettext catalog and its formats)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from tenure.web.i18n import format_day, format_moment, format_money, translations
from tenure.web.security import CSRF_FIELD, apply_security_headers, csp_nonce

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment(locale: str) -> Environment:
    """A separate environment per locale, so a compiled template never mixes two languages."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = lambda amount, currency: format_money(int(amount), str(currency), locale)
    env.filters["day"] = lambda timestamp: format_day(int(timestamp), locale)
    env.filters["moment"] = lambda timestamp: format_moment(int(timestamp), locale)
    env.filters["day_iso"] = lambda timestamp: (
        datetime.fromtimestamp(int(timestamp), tz=UTC).date().isoformat()
    )
    env.globals["csrf_field"] = CSRF_FIELD
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, locale: str, status_code: int = 200
) -> HTMLResponse:
    """Render `template` in `locale`, with the security headers every page carries."""
    body = (
        environment(locale)
        .get_template(template)
        .render({"request": request, "locale": locale, "csp_nonce": csp_nonce(request), **context})
    )
    response = HTMLResponse(body, status_code=status_code)
    apply_security_headers(request, response)
    return response
