"""What a running Tenure holds: settings, the database, the clock. Built once, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tenure.clock import Clock, SystemClock
from tenure.config import Settings
from tenure.crypto import SecretBox
from tenure.db.engine import make_engine, make_sessionmaker


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        if settings.database_kind == "sqlite":
            settings.ensure_data_dir()
        engine = make_engine(settings.effective_database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            clock=clock or SystemClock(),
        )

    @cached_property
    def response_box(self) -> SecretBox:
        """Seals stored idempotent responses, which may hold secrets (a portal session's URL)."""
        return SecretBox(self.settings.resolved_secret_key(), purpose="tenure idempotent responses")

    @property
    def database_kind(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
