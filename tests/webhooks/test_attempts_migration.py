"""Migration 0016 keeps only the status line of the answers stored before it (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tenure.db.migrate import alembic_config, upgrade

BODY = "ami-id\nhostname\niam/security-credentials/admin " * 100


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    import psycopg

    server: str = request.getfixturevalue("postgres_server_url")
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS tenure_migration_0016")
        connection.execute("CREATE DATABASE tenure_migration_0016")
    yield f"{server.rpartition('/')[0]}/tenure_migration_0016"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS tenure_migration_0016 WITH (FORCE)")


def test_stored_answers_become_status_lines(empty_url: str) -> None:
    before = ScriptDirectory.from_config(alembic_config(empty_url)).get_revision("0016").down_revision
    assert isinstance(before, str)
    upgrade(empty_url, before)
    engine = create_engine(empty_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (id, created, livemode, type, api_version, data, pending_webhooks)"
                " VALUES ('evt_1', 1, false, 'customer.created', '2024-06-20', '{}', 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO webhook_endpoints (id, created, livemode, url, enabled_events, status,"
                " signature_scheme, secret_encrypted, metadata)"
                " VALUES ('we_1', 1, false, 'http://169.254.169.254/', '[\"*\"]', 'enabled', 'stripe',"
                " 'x', '{}')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO webhook_deliveries (id, created, livemode, event_id, endpoint_id, manual,"
                " status, attempt_count) VALUES ('whdel_1', 1, false, 'evt_1', 'we_1', false, 'failed', 3)"
            )
        )
        delivery_pk = connection.execute(text("SELECT pk FROM webhook_deliveries")).scalar_one()
        for number, status_code, excerpt in ((1, 200, BODY), (2, 404, "not here"), (3, None, None)):
            connection.execute(
                text(
                    "INSERT INTO webhook_attempts (id, created, livemode, delivery_pk, delivery_id, number,"
                    " event_id, endpoint_id, manual, succeeded, status_code, duration_ms, response_excerpt)"
                    " VALUES (:id, 1, false, :pk, 'whdel_1', :number, 'evt_1', 'we_1', false, false,"
                    " :status_code, 5, :excerpt)"
                ),
                {
                    "id": f"whatt_{number}",
                    "pk": delivery_pk,
                    "number": number,
                    "status_code": status_code,
                    "excerpt": excerpt,
                },
            )
    upgrade(empty_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT number, response_excerpt FROM webhook_attempts ORDER BY number")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "HTTP 200 OK"), (2, "HTTP 404 Not Found"), (3, None)]
