"""catalog: products, prices, coupons, promotion codes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("name", sa.String(length=5000), nullable=False),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("default_price_id", sa.String(length=64), nullable=True),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unit_label", sa.String(length=12), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column(
            "images",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
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
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_products")),
        sa.UniqueConstraint("id", name=op.f("uq_products_id")),
    )
    op.create_table(
        "prices",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("recurring_interval", sa.String(length=10), nullable=True),
        sa.Column("recurring_interval_count", sa.Integer(), nullable=True),
        sa.Column("recurring_trial_period_days", sa.Integer(), nullable=True),
        sa.Column("lookup_key", sa.String(length=200), nullable=True),
        sa.Column("nickname", sa.String(length=5000), nullable=True),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_prices_product_id_products")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_prices")),
        sa.UniqueConstraint("id", name=op.f("uq_prices_id")),
    )
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prices_active_lookup_key",
            ["lookup_key"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
        batch_op.create_index(batch_op.f("ix_prices_product_id"), ["product_id"], unique=False)

    op.create_table(
        "coupons",
        sa.Column("name", sa.String(length=40), nullable=True),
        sa.Column("percent_off", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("amount_off", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("duration", sa.String(length=10), nullable=False),
        sa.Column("duration_in_months", sa.Integer(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redeem_by", sa.BigInteger(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_coupons")),
        sa.UniqueConstraint("id", name=op.f("uq_coupons_id")),
    )
    op.create_table(
        "promotion_codes",
        sa.Column("code", sa.String(length=500), nullable=False),
        sa.Column("normalized_code", sa.String(length=500), nullable=False),
        sa.Column("coupon_id", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("times_redeemed", sa.Integer(), nullable=False),
        sa.Column("restrictions_first_time_transaction", sa.Boolean(), nullable=False),
        sa.Column("restrictions_minimum_amount", sa.BigInteger(), nullable=True),
        sa.Column("restrictions_minimum_amount_currency", sa.String(length=3), nullable=True),
        sa.Column(
            "restrictions_currency_options",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
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
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_promotion_codes_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_promotion_codes")),
        sa.UniqueConstraint("id", name=op.f("uq_promotion_codes_id")),
    )
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promotion_codes_active_code",
            ["normalized_code"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )
        batch_op.create_index(batch_op.f("ix_promotion_codes_coupon_id"), ["coupon_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("promotion_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promotion_codes_coupon_id"))
        batch_op.drop_index("ix_promotion_codes_active_code")

    op.drop_table("promotion_codes")
    op.drop_table("coupons")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prices_product_id"))
        batch_op.drop_index("ix_prices_active_lookup_key")

    op.drop_table("prices")
    op.drop_table("products")
