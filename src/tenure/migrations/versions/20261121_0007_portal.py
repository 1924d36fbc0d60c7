"""portal

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 14:12:47.503313
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Autogenerate renders JSONB columns with `astext_type=Text()`.
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_configurations",
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column(
            "business_profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("default_return_url", sa.String(length=2048), nullable=True),
        sa.Column("login_page_enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column(
            "tenure",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_portal_configurations")),
        sa.UniqueConstraint("id", name=op.f("uq_portal_configurations_id")),
    )
    with op.batch_alter_table("portal_configurations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_configurations_one_default",
            ["is_default"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.create_table(
        "portal_sessions",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column(
            "flow", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.Column("url_secret_hash", sa.String(length=64), nullable=False),
        sa.Column("url_expires_at", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=True),
        sa.Column("browser_token_hash", sa.String(length=64), nullable=True),
        sa.Column("browser_expires_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["portal_configurations.id"],
            name=op.f("fk_portal_sessions_configuration_id_portal_configurations"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_portal_sessions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("browser_token_hash", name=op.f("uq_portal_sessions_browser_token_hash")),
        sa.UniqueConstraint("id", name=op.f("uq_portal_sessions_id")),
        sa.UniqueConstraint("url_secret_hash", name=op.f("uq_portal_sessions_url_secret_hash")),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_sessions_configuration_id"), ["configuration_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_sessions_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sessions_customer_id"))
        batch_op.drop_index(batch_op.f("ix_portal_sessions_configuration_id"))

    op.drop_table("portal_sessions")
    with op.batch_alter_table("portal_configurations", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_portal_configurations_one_default",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.drop_table("portal_configurations")
