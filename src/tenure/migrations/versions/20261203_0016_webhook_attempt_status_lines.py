"""webhook_attempt_status_lines: keep only the status line of webhook answers

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:00:00.000000

Attempts kept the first 1,000 characters of each answer, which a URL pointing inside the network
(cloud metadata, an admin page) turned into a way to read it. Stored answers are replaced by their
status line ("HTTP 200 OK"), and the column holds no more than that.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# `tenure.webhooks.delivery.status_line`, frozen here as it was when the column was narrowed.
def _status_line(status_code: int) -> str:
    try:
        return f"HTTP {status_code} {HTTPStatus(status_code).phrase}"[:100]
    except ValueError:
        return f"HTTP {status_code}"


def upgrade() -> None:
    connection = op.get_bind()
    codes = connection.execute(
        sa.text("SELECT DISTINCT status_code FROM webhook_attempts WHERE status_code IS NOT NULL")
    ).scalars()
    for code in list(codes):
        connection.execute(
            sa.text("UPDATE webhook_attempts SET response_excerpt = :line WHERE status_code = :code"),
            {"line": _status_line(code), "code": code},
        )
    connection.execute(
        sa.text("UPDATE webhook_attempts SET response_excerpt = NULL WHERE status_code IS NULL")
    )
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.alter_column(
            "response_excerpt", existing_type=sa.Text(), type_=sa.String(length=100), existing_nullable=True
        )


def downgrade() -> None:
    # The answers' bodies are gone: only the column's type comes back.
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.alter_column(
            "response_excerpt", existing_type=sa.String(length=100), type_=sa.Text(), existing_nullable=True
        )
