"""Settings from `TENURE_*` environment variables (12-factor)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TENURE_", extra="ignore")

    data_dir: Path = Path("./tenure-data")
    database_url: str | None = None
    # Signs portal and dashboard cookies; generated once into the data directory when unset.
    secret_key: str | None = None
    base_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    worker_poll_seconds: float = 1.0
    webhook_retry_schedule: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [60, 300, 1800, 3600, 7200, 21600, 43200, 86400, 86400, 86400]
    )
    # Let webhook endpoints be loopback, private, link-local… addresses (local development, the demo,
    # tests). Off, they are refused at registration and again on every delivery (SSRF).
    webhook_allow_private: bool = False
    idempotency_ttl_seconds: int = 24 * 3600
    # Dunning: days after the first failed charge at which payment is retried (3 retries over 2 weeks).
    dunning_retry_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3, 7, 14])
    # After the last failed retry: "cancel" (reason payment_failed) or "unpaid".
    dunning_final_action: str = "cancel"
    # Email: SMTP when set (`smtp://`, `smtp+starttls://`, `smtps://`, with user:password@), else the
    # local outbox (stored, and written as .eml files under the data directory).
    smtp_url: str | None = None
    mail_from: str = "billing@localhost"
    # Where operator emails go (disabled webhook endpoints, the daily digest); none when unset.
    operator_email: str | None = None
    operator_locale: str = "en"
    # Upcoming-renewal reminders: days before the payment; yearly plans always, monthly ones on demand.
    renewal_reminder_days: int = 7
    remind_monthly: bool = False
    # Opt-in: a daily email to the operator listing yesterday's cancellations with their reasons.
    operator_digest: bool = False
    # Insights report every amount in this currency; others convert with `fx_rates`
    # ("usd=0.92,gbp=1.17": units of the reporting currency per unit) or are left out and listed.
    reporting_currency: str = "eur"
    fx_rates: str = ""
    # Rate limits (0 disables): API requests per second per key with a burst (Stripe's live-mode limit),
    # and POSTs per minute per client address on the dashboard sign-in and the portal's login-link form.
    # With PostgreSQL every server shares them (in the database); with SQLite each server process keeps
    # its own in memory.
    rate_limit_api: float = Field(default=100.0, ge=0)
    rate_limit_api_burst: int = Field(default=200, ge=1)
    rate_limit_signin: int = Field(default=30, ge=0)
    # The SQL console (docs/insights.md): a query's time limit, the most one value and a whole result
    # may hold, and how many queries a server process runs at once (a few more wait their turn; beyond
    # that the console answers "busy").
    sql_console_timeout_seconds: float = Field(default=10.0, gt=0)
    sql_console_max_value_bytes: int = Field(default=256 * 1024, ge=1024)
    sql_console_max_result_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    sql_console_workers: int = Field(default=2, ge=1)
    sql_console_queue: int = Field(default=4, ge=0)
    # SQLite has one writer at a time (docs/deploy.md, "SQLite: one writer at a time"): a process's
    # writers wait their turn in arrival order, at most this many at once and each at most this long;
    # beyond either a request is answered 503 with Retry-After at once. The default queue is longer
    # than a server process's 40 request threads, so that all of them may wait their turn: the wait,
    # not the length, is what refuses when writes come faster than they are done. Between processes,
    # the holders of their turns take turns at a lock file beside the database.
    sqlite_write_queue_max: int = Field(default=64, ge=0)
    sqlite_write_wait_seconds: float = Field(default=5.0, gt=0)

    @field_validator("webhook_retry_schedule", "dunning_retry_days", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tenure.sqlite3').resolve()}"

    @property
    def database_kind(self) -> str:
        return "postgresql" if self.effective_database_url.startswith("postgresql") else "sqlite"

    @property
    def public_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured secret, else one generated and kept in the data directory across restarts."""
        if self.secret_key:
            return self.secret_key
        self.ensure_data_dir()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
