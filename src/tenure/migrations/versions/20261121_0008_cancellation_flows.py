"""cancellation flows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 14:19:32.193965
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Autogenerate renders JSONB columns with `astext_type=Text()`.
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cancellation_flows",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("portal_session_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("feedback", sa.String(length=40), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reason_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "offer", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.Column("offer_shown_at", sa.BigInteger(), nullable=True),
        sa.Column("offer_response", sa.String(length=20), nullable=True),
        sa.Column("offer_responded_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=True),
        sa.Column("mrr", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_cancellation_flows_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_cancellation_flows_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_cancellation_flows")),
        sa.UniqueConstraint("id", name=op.f("uq_cancellation_flows_id")),
    )
    with op.batch_alter_table("cancellation_flows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cancellation_flows_offer_responded_at"), ["offer_responded_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cancellation_flows_started_at"), ["started_at"], unique=False)
        batch_op.create_index(
            "ix_cancellation_flows_sub_response", ["subscription_id", "offer_responded_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cancellation_flows_subscription_id"), ["subscription_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cancellation_flows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cancellation_flows_subscription_id"))
        batch_op.drop_index("ix_cancellation_flows_sub_response")
        batch_op.drop_index(batch_op.f("ix_cancellation_flows_started_at"))
        batch_op.drop_index(batch_op.f("ix_cancellation_flows_offer_responded_at"))

    op.drop_table("cancellation_flows")
