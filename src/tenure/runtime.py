"""What a running Tenure holds: settings, the database, the clock. Built once, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine, orm
from sqlalchemy.orm import Session, sessionmaker

from tenure.clock import Clock, SystemClock
from tenure.config import Settings
from tenure.crypto import SecretBox
from tenure.db.engine import make_engine, make_read_sessionmaker, make_sessionmaker


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
        engine = make_engine(
            settings.effective_database_url,
            write_queue_max=settings.sqlite_write_queue_max,
            write_wait_seconds=settings.sqlite_write_wait_seconds,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            clock=clock or SystemClock(),
        )

    def read_session(self) -> Session:
        """A session for a read phase: the lookups before a request's writes (its API key, its portal
        or staff session, the configuration) and pages that only read. On SQLite it never takes the
        write lock; on either database it refuses to write (docs/deploy.md)."""
        return self._read_sessionmaker()

    @cached_property
    def _read_sessionmaker(self) -> orm.sessionmaker[Session]:
        return make_read_sessionmaker(self.engine)

    @cached_property
    def response_box(self) -> SecretBox:
        """Seals stored idempotent responses, which may hold secrets (a portal session's URL)."""
        return SecretBox(self.settings.resolved_secret_key(), purpose="tenure idempotent responses")

    @property
    def database_kind(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
