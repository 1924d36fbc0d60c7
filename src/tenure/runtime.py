"""What a running Tenure holds: settings, the database, the clock. Built once, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tenure.clock import Clock, SystemClock
from tenure.config import Settings
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

    @property
    def database_kind(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
