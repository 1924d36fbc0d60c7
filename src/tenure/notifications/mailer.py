"""How a composed email leaves Tenure: SMTP when `TENURE_SMTP_URL` is set, else the local outbox.

Both are real code paths: the local outbox writes each message as an `.eml` file under the data
directory (and the dashboard lists the stored messages), which is how `tenure serve` works out of
the box. A mailer raises `TemporaryFailure` for what a retry may fix (connection refused, 4xx,
authentication trouble) and `PermanentFailure` when every recipient was refused for good (5xx).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from tenure.config import Settings

SMTP_TIMEOUT_SECONDS = 15.0


class MailerError(Exception):
    pass


class TemporaryFailure(MailerError):
    """Worth retrying later."""


class PermanentFailure(MailerError):
    """The server refused the message for good (an unknown recipient)."""


class Mailer(Protocol):
    def send(self, message: EmailMessage, *, reference: str) -> str | None:
        """Send `message`; returns where it was written (local outbox) or None. `reference` names it."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "none" | "starttls" | "ssl"
    username: str | None
    password: str | None
    cafile: str | None = None
    timeout: float = SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """`smtp://host:25`, `smtp+starttls://user:pass@host:587`, `smtps://user:pass@host:465`
        (`smtp+tls` and `smtp+ssl` are accepted too); `?cafile=` trusts a private CA,
        `?timeout=` sets the socket timeout in seconds."""
        parts = urlsplit(url)
        schemes = {
            "smtp": ("none", 25),
            "smtp+starttls": ("starttls", 587),
            "smtp+tls": ("starttls", 587),
            "smtps": ("ssl", 465),
            "smtp+ssl": ("ssl", 465),
        }
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(
                "TENURE_SMTP_URL must look like smtp://host:port, smtp+starttls://… or smtps://… "
                f"(got {url!r})"
            )
        security, default_port = schemes[parts.scheme]
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            cafile=query["cafile"][0] if "cafile" in query else None,
            timeout=float(query["timeout"][0]) if "timeout" in query else SMTP_TIMEOUT_SECONDS,
        )


class SmtpMailer:
    """Sends through an SMTP server: plain, STARTTLS or implicit TLS, with AUTH when a user is given."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        if config.security == "ssl":
            return smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=self._tls_context()
            )
        return smtplib.SMTP(config.host, config.port, timeout=config.timeout)

    def send(self, message: EmailMessage, *, reference: str) -> str | None:
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.config.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {text!r}" for rcpt, (code, text) in exc.recipients.items())
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"recipient refused: {detail}") from exc
            raise TemporaryFailure(f"recipient deferred: {detail}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        return None


class LocalOutboxMailer:
    """The default: each message becomes `<data dir>/outbox/<reference>.eml` (written atomically, so a
    retry after a crash rewrites the same file rather than adding a second one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, *, reference: str) -> str | None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = self.directory / f"{reference}.eml"
            partial = target.with_suffix(".eml.partial")
            partial.write_bytes(message.as_bytes())
            os.replace(partial, target)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write the local outbox: {exc}") from exc
        return str(target)


def mailer_for(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(SmtpConfig.from_url(settings.smtp_url))
    return LocalOutboxMailer(settings.data_dir / "outbox")
