"""notifications

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 14:36:08.180270
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Autogenerate renders JSONB columns with `astext_type=Text()`.
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_campaigns",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column(
            "segment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("promotion_code", sa.String(length=64), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_email_campaigns")),
        sa.UniqueConstraint("id", name=op.f("uq_email_campaigns_id")),
    )
    op.create_table(
        "portal_login_attempts",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_portal_login_attempts")),
    )
    with op.batch_alter_table("portal_login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_login_attempts_created"), ["created"], unique=False)
        batch_op.create_index("ix_portal_login_attempts_key", ["key_hash", "created"], unique=False)

    op.create_table(
        "email_messages",
        sa.Column("cause_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=64), nullable=True),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("locked_until", sa.BigInteger(), nullable=True),
        sa.Column("to_address", sa.String(length=512), nullable=True),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("eml_path", sa.String(length=1024), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["email_campaigns.id"],
            name=op.f("fk_email_messages_campaign_id_email_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_email_messages_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("cause_key", name=op.f("uq_email_messages_cause_key")),
        sa.UniqueConstraint("id", name=op.f("uq_email_messages_id")),
    )
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_messages_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_messages_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_email_messages_due", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "portal_login_links",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["configuration_id"],
            ["portal_configurations.id"],
            name=op.f("fk_portal_login_links_configuration_id_portal_configurations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_portal_login_links_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_portal_login_links")),
        sa.UniqueConstraint("id", name=op.f("uq_portal_login_links_id")),
    )
    with op.batch_alter_table("portal_login_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_login_links_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "renewal_reminder_plans",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("remind_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_renewal_reminder_plans_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_renewal_reminder_plans")),
    )
    with op.batch_alter_table("renewal_reminder_plans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_renewal_reminder_plans_period", ["subscription_id", "period_end"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_renewal_reminder_plans_remind_at"), ["remind_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("renewal_reminder_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_renewal_reminder_plans_remind_at"))
        batch_op.drop_index("ix_renewal_reminder_plans_period")

    op.drop_table("renewal_reminder_plans")
    with op.batch_alter_table("portal_login_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_login_links_customer_id"))

    op.drop_table("portal_login_links")
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_email_messages_due")
        batch_op.drop_index(batch_op.f("ix_email_messages_customer_id"))
        batch_op.drop_index(batch_op.f("ix_email_messages_campaign_id"))

    op.drop_table("email_messages")
    with op.batch_alter_table("portal_login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_login_attempts_key")
        batch_op.drop_index(batch_op.f("ix_portal_login_attempts_created"))

    op.drop_table("portal_login_attempts")
    op.drop_table("email_campaigns")
