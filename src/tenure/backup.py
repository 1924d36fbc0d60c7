"""`tenure backup` and `tenure restore`: a consistent copy of a live store, and putting it back.

SQLite is copied with SQLite's online backup API (one read transaction: writers carry on, the
copy is the store as of one commit). PostgreSQL is dumped with `pg_dump`, which reads one
snapshot, in its custom format; `pg_restore` puts it back in a single transaction. A backup file
says by its first bytes which kind it is, so a restore cannot mix them up.

The secret key (`TENURE_SECRET_KEY`, or `secret_key` in the data directory) is not in the backup:
webhook signing secrets are stored encrypted with it, so it must be kept, separately, too.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from tenure.config import Settings
from tenure.db.engine import make_engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
BUSY_TIMEOUT_MS = 30_000
# Tables a freshly migrated store already fills (the schema version, where each event consumer starts
# reading) or that a running server fills on its own (PostgreSQL's rate-limit buckets). Rows there say
# nothing about whether the store holds data.
BOOKKEEPING = frozenset({"alembic_version", "event_consumers", "rate_limit_buckets"})


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    kind: str
    size: int


def default_name(kind: str, now: int) -> str:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%d-%H%M%S")
    return f"tenure-backup-{stamp}{SUFFIXES[kind]}"


def backup_kind(path: Path) -> str:
    """`sqlite` or `postgresql`, from the file's first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a Tenure backup (neither an SQLite file nor a pg_dump archive)")


def create_backup(settings: Settings, target: Path, *, overwrite: bool = False) -> BackupFile:
    """Write a consistent copy of the live store to `target` (written aside, then renamed into place)."""
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists (use --force to replace it)")
    if target.parent and not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    kind = settings.database_kind
    partial = target.with_name(f".{target.name}.partial")
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_path(settings), partial)
        else:
            _pg_dump(settings.effective_database_url, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupFile(path=target, kind=kind, size=target.stat().st_size)


def restore_backup(settings: Settings, source: Path, *, force: bool = False) -> str:
    """Replace the configured store's contents with the backup `source`; returns the store's kind.

    Tenure must be stopped. A store that already holds data is replaced only with `force`."""
    kind = backup_kind(source)
    target_kind = settings.database_kind
    if kind != target_kind:
        raise BackupError(
            f"{source} is a {kind} backup but the configured store is {target_kind}: "
            f"set TENURE_DATABASE_URL to a {kind} store to restore it"
        )
    tables, rows = _contents(settings)
    if rows and not force:
        raise BackupError(
            "the configured store already holds data: restore into an empty store, "
            "or use --force to replace its contents"
        )
    if kind == "sqlite":
        _sqlite_restore(source, _sqlite_path(settings))
    else:
        # Tables already there (a migrated, empty database) are dropped and recreated by the dump.
        _pg_restore(source, settings.effective_database_url, clean=tables)
    return kind


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.effective_database_url)
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite store cannot be backed up or restored")
    return Path(url.database)


def _contents(settings: Settings) -> tuple[bool, bool]:
    """Whether the store has tables, and whether any of them (bookkeeping aside) has rows."""
    if settings.database_kind == "sqlite" and not _sqlite_path(settings).exists():
        return False, False
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            for table in tables:
                if table in BOOKKEEPING:
                    continue
                quoted = connection.dialect.identifier_preparer.quote(table)
                if connection.exec_driver_sql(f"SELECT 1 FROM {quoted} LIMIT 1").first() is not None:
                    return True, True
        return bool(tables), False
    finally:
        engine.dispose()


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)) as connection:
        yield connection


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"there is no SQLite store at {source}")
    target.unlink(missing_ok=True)
    with _sqlite(source) as live, _sqlite(target) as copy:
        # All pages in one step: one read transaction, so the copy is the store as of one commit
        # (in WAL mode, writers are not blocked meanwhile).
        live.backup(copy, pages=-1)
        # A single self-contained file: no -wal/-shm beside it to lose when it is moved.
        copy.execute("PRAGMA journal_mode=DELETE")
        _verify_sqlite(copy, target)


def _verify_sqlite(connection: sqlite3.Connection, path: Path) -> None:
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from None
    if result is None or result[0] != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result[0] if result else 'no answer'}")
    if "alembic_version" not in tables or "subscriptions" not in tables:
        raise BackupError(f"{path} is an SQLite database but not a Tenure store")


def _sqlite_restore(source: Path, target: Path) -> None:
    with _sqlite(source) as backup:
        _verify_sqlite(backup, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite(target) as live:
            # The backup API writes the destination in one transaction, WAL included: a failure
            # leaves the previous contents, and no stale -wal file can be replayed over the new ones.
            backup.backup(live, pages=-1)
            live.execute("PRAGMA journal_mode=WAL")


def find_pg_tool(name: str) -> str:
    """`pg_dump`/`pg_restore` from PATH, else from the newest installed PostgreSQL."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def _libpq(url_text: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for the tools, and the environment carrying the password (so that it
    never shows in a process list)."""
    url: URL = make_url(url_text)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-2000:]}")


def _pg_dump(url_text: str, target: Path) -> None:
    dsn, env = _libpq(url_text)
    _run(
        [
            find_pg_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--no-unlogged-table-data",  # the rate-limit buckets: a restored store starts them full
            f"--file={target}",
            dsn,
        ],
        env,
        "pg_dump",
    )


def _pg_restore(source: Path, url_text: str, *, clean: bool) -> None:
    dsn, env = _libpq(url_text)
    command = [
        find_pg_tool("pg_restore"),
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        f"--dbname={dsn}",
    ]
    if clean:
        command += ["--clean", "--if-exists"]
    _run([*command, str(source)], env, "pg_restore")
