"""rate_limit_buckets: rate limits that hold across every server sharing one PostgreSQL

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 15:00:00.000000

Each server kept its token buckets in memory, so N servers let a key through N times its rate. On
PostgreSQL the buckets move here, one row per key, spent by one upsert per request
(`tenure.ratelimit`). The table is UNLOGGED on PostgreSQL: no WAL for a write on every API request,
and after a crash it comes back empty, which only gives every key a full bucket. SQLite keeps its
buckets in memory (one machine), but has the table too, so that both share one schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_buckets")),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
