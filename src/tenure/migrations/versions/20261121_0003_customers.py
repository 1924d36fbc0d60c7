"""customers and payment methods

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("email", sa.String(length=512), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.Column("address", _json(), nullable=True),
        sa.Column("preferred_locales", _json(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("default_payment_method_id", sa.String(length=64), nullable=True),
        sa.Column("test_clock_id", sa.String(length=64), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("marketing_opt_out", sa.Boolean(), nullable=False),
        sa.Column("invoice_prefix", sa.String(length=12), nullable=False),
        sa.Column("next_invoice_sequence", sa.Integer(), nullable=False),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_clock_id"],
            ["test_clocks.id"],
            name=op.f("fk_customers_test_clock_id_test_clocks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_customers")),
        sa.UniqueConstraint("id", name=op.f("uq_customers_id")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_test_clock_id"), ["test_clock_id"], unique=False)

    op.create_table(
        "payment_methods",
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("billing_details", _json(), nullable=False),
        sa.Column("card_brand", sa.String(length=20), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("card_country", sa.String(length=2), nullable=True),
        sa.Column("card_funding", sa.String(length=20), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("sepa_bank_code", sa.String(length=20), nullable=True),
        sa.Column("sepa_country", sa.String(length=2), nullable=True),
        sa.Column("sepa_last4", sa.String(length=4), nullable=True),
        sa.Column("paypal_payer_email", sa.String(length=512), nullable=True),
        sa.Column("detached", sa.Boolean(), nullable=False),
        sa.Column("behaviour", sa.String(length=20), nullable=False),
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_payment_methods_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("id", name=op.f("uq_payment_methods_id")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_methods_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_methods_customer_id"))
    op.drop_table("payment_methods")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_test_clock_id"))
        batch_op.drop_index(batch_op.f("ix_customers_email"))
    op.drop_table("customers")
