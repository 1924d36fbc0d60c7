"""An email's two parts from its `Content`: HTML (autoescaped Jinja2, the brand's colours) and plain text."""

from __future__ import annotations

import re
import textwrap
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

from tenure.notifications.content import Brand, Content
from tenure.web.templating import environment

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_ACCENT = "#2f5bea"
WIDTH = 76


def html_part(content: Content, *, brand: Brand, locale: str) -> str:
    accent = brand.accent if brand.accent and _COLOUR.match(brand.accent) else DEFAULT_ACCENT
    template = environment(locale).get_template("emails/message.html")
    return template.render(content=content, brand=brand, accent=accent, locale=locale)


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(line, WIDTH) if line.strip() else "" for line in text.splitlines())


def text_part(content: Content, *, brand: Brand) -> str:
    """The plain-text part: the same words, links written out in full."""
    blocks: list[str] = [brand.name, ""]
    if content.greeting:
        blocks += [_wrap(content.greeting), ""]
    for paragraph in content.paragraphs:
        blocks += [_wrap(paragraph), ""]
    if content.facts:
        blocks += [f"{label}: {value}" for label, value in content.facts] + [""]
    if content.action:
        blocks += [f"{content.action.label}:", content.action.url, ""]
    for paragraph in content.closing:
        blocks += [_wrap(paragraph), ""]
    if content.table:
        for row in content.table.rows:
            cells = [
                f"{header}: {cell}" for header, cell in zip(content.table.headers, row, strict=False) if cell
            ]
            blocks += ["- " + _wrap(" | ".join(cells)), ""]
    if content.signature:
        blocks += [content.signature, ""]
    blocks.append("--")
    blocks += [_wrap(line) for line in content.footer]
    if content.unsubscribe:
        blocks += [f"{content.unsubscribe.label}: {content.unsubscribe.url}"]
    return "\n".join(blocks).rstrip() + "\n"


def header_text(value: str) -> str:
    """A header value on one line: text typed by customers or operators can never add a header."""
    return " ".join(value.split())


def build_message(
    content: Content,
    *,
    brand: Brand,
    locale: str,
    mail_from: str,
    to: str,
    message_id: str,
    sent_at: int,
    headers: dict[str, str],
) -> EmailMessage:
    display, address = parseaddr(mail_from)
    message = EmailMessage()
    message["From"] = formataddr((header_text(brand.name or display), address or "billing@localhost"))
    message["To"] = header_text(to)
    message["Subject"] = header_text(content.subject)
    message["Date"] = formatdate(sent_at, usegmt=True)
    message["Message-ID"] = message_id
    for name, value in headers.items():
        message[name] = header_text(value)
    message.set_content(text_part(content, brand=brand), charset="utf-8")
    message.add_alternative(html_part(content, brand=brand, locale=locale), subtype="html", charset="utf-8")
    # After the parts: setting content clears the Content-* headers.
    message["Content-Language"] = locale
    return message
