"""`tenure backup` of a live store and `tenure restore` into another: the restored store passes the
consistency checks and serves the same data with the same key."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tenure.app import create_app
from tenure.config import Settings
from tenure.consistency import check_store
from tenure.runtime import Runtime
from tenure.subscriptions.models import Subscription

from .conftest import Business
from .drive import api_cancel, tenure, tenure_env, tenure_inline


@pytest.fixture
def restore_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty store of the same kind, where backups are restored."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'tenure.sqlite3'}"
        return
    import psycopg

    server: str = request.getfixturevalue("postgres_server_url")
    name = f"tenure_restored_{uuid.uuid4().hex[:8]}"
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backup(database_url: str, tmp_path: Path) -> Path:
    folder = tmp_path / "backups"
    folder.mkdir(exist_ok=True)
    made = tenure("backup", str(folder), env=tenure_env(database_url, tmp_path / "data"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip().splitlines()[-1])
    assert path.parent == folder and path.stat().st_size > 0
    return path


def test_a_backup_taken_under_writes_restores_a_consistent_working_store(
    business: Business,
    client: TestClient,
    runtime: Runtime,
    database_url: str,
    restore_url: str,
    secret_key: str,
    tmp_path: Path,
) -> None:
    stop = threading.Event()
    written: list[str] = []

    def keep_writing() -> None:
        index = 100
        while not stop.is_set():
            subscription = business.shop.subscribe(business.shop.customer(index))
            answer = api_cancel(
                client, subscription=subscription, reason="too_complex", comment="Busy", immediately=False
            )
            assert answer.status_code == 200
            written.append(subscription)
            index += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        backup = _backup(database_url, tmp_path)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert written  # the backup really ran while cancellations were being written

    restore_env = tenure_env(restore_url, tmp_path / "restored")
    # The operator migrates a new, empty store first, or not: both work.
    assert tenure("migrate", env=restore_env, cwd=tmp_path).returncode == 0
    restored = tenure("restore", str(backup), env=restore_env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "No problems found." in restored.stderr

    copy = Runtime.build(
        Settings(data_dir=tmp_path / "restored", database_url=restore_url, secret_key="test-secret")
    )
    try:
        with copy.sessionmaker() as session:
            assert check_store(session) == []
            count = session.scalar(select(func.count()).select_from(Subscription))
        with runtime.sessionmaker() as session:
            assert count is not None
            assert count <= (session.scalar(select(func.count()).select_from(Subscription)) or 0)
        # The same key works, and every cancellation made before the backup is there with its reason.
        with TestClient(create_app(copy), headers={"Authorization": f"Bearer {secret_key}"}) as restored_api:
            for subscription, (feedback, comment) in business.canceled.items():
                details = restored_api.get(f"/v1/subscriptions/{subscription}").json()["cancellation_details"]
                assert (details["feedback"], details["comment"]) == (feedback, comment)
    finally:
        copy.close()


def test_restore_refuses_to_replace_data_without_force_and_rejects_foreign_files(
    business: Business, database_url: str, restore_url: str, tmp_path: Path
) -> None:
    backup = _backup(database_url, tmp_path)
    env = tenure_env(database_url, tmp_path / "data")
    again = tenure_inline("backup", str(backup), env=env)
    assert again.returncode == 2 and "already exists" in again.stderr

    restore_env = tenure_env(restore_url, tmp_path / "restored")
    assert tenure("restore", str(backup), env=restore_env, cwd=tmp_path).returncode == 0
    refused = tenure_inline("restore", str(backup), env=restore_env)
    assert refused.returncode == 2 and "already holds data" in refused.stderr
    forced = tenure("restore", "--force", str(backup), env=restore_env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "No problems found." in forced.stderr

    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a backup")
    rejected = tenure_inline("restore", str(foreign), env=restore_env)
    assert rejected.returncode == 2 and "is not a Tenure backup" in rejected.stderr
    other_kind = tmp_path / "other.backup"
    other_kind.write_bytes(b"PGDMP" if database_url.startswith("sqlite") else b"SQLite format 3\x00")
    mismatched = tenure_inline("restore", str(other_kind), env=restore_env)
    assert mismatched.returncode == 2 and "backup but the configured store is" in mismatched.stderr
