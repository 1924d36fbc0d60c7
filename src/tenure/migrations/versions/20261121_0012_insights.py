"""insights

Revision ID: 0012
Revises: 0008
Create Date: 2026-11-21 14:30:03.579321
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Autogenerate renders JSONB columns with `astext_type=Text()`.
from sqlalchemy import Text  # noqa: F401

revision: str = "0012"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The SQL console's views on PostgreSQL (SQLite builds the same views per console connection; see
# tenure/insights/sql_views.py). The `tenure_insights` role may read these views and nothing else.
PG_VIEWS = {
    "subscriptions": """
        SELECT id, customer_id AS customer, status, currency, created, start_date, current_period_start,
               current_period_end, cancel_at_period_end, cancel_at, canceled_at, ended_at,
               cancellation_details->>'feedback' AS cancellation_feedback,
               cancellation_details->>'comment' AS cancellation_comment,
               cancellation_details->>'reason' AS cancellation_reason,
               trial_start, trial_end, latest_invoice_id AS latest_invoice, metadata
        FROM public.subscriptions""",
    "subscription_items": """
        SELECT id, subscription_id AS subscription, price_id AS price, quantity, created
        FROM public.subscription_items""",
    "customers": """
        SELECT id, email, name, created, balance, currency, preferred_locales, deleted,
               test_clock_id AS test_clock, marketing_opt_out
        FROM public.customers""",
    "prices": """
        SELECT id, product_id AS product, active, currency, unit_amount, type, recurring_interval AS interval,
               recurring_interval_count AS interval_count, lookup_key, nickname, created
        FROM public.prices""",
    "products": "SELECT id, name, active, created FROM public.products",
    "coupons": """
        SELECT id, name, percent_off, amount_off, currency, duration, duration_in_months, times_redeemed,
               max_redemptions, redeem_by, created
        FROM public.coupons""",
    "invoices": """
        SELECT id, customer_id AS customer, subscription_id AS subscription, status, number, currency,
               subtotal, total, amount_due, amount_paid, billing_reason, created, period_start, period_end,
               attempt_count
        FROM public.invoices""",
    "cancellations": """
        SELECT subscription_id AS subscription, customer_id AS customer, canceled_at, ended_at, started_at,
               tenure_days, reason, feedback, comment, price_id AS price, product_id AS product, currency,
               mrr, locale, source, flow_id AS flow
        FROM public.cancellations""",
    "cancellation_flows": """
        SELECT id, subscription_id AS subscription, customer_id AS customer, source, locale, started_at,
               reason_code, feedback, comment, offer->>'type' AS offer_type, offer_shown_at,
               offer_response, offer_responded_at, outcome, completed_at, mode, mrr, currency
        FROM public.cancellation_flows""",
    "events": "SELECT id, type, created, object_id, data FROM public.events",
}


def _postgres_console() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS insights")
    for name, body in PG_VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW insights.{name} AS {body}")
    op.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenure_insights') THEN "
        "CREATE ROLE tenure_insights NOLOGIN; END IF; END $$"
    )
    op.execute("GRANT USAGE ON SCHEMA insights TO tenure_insights")
    op.execute("GRANT SELECT ON ALL TABLES IN SCHEMA insights TO tenure_insights")
    # The application's own user must be able to take the role for the console's transactions.
    op.execute("GRANT tenure_insights TO CURRENT_USER")


def upgrade() -> None:
    op.create_table(
        "cancellations",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("canceled_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("tenure_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("feedback", sa.String(length=40), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("price_id", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mrr", sa.BigInteger(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_cancellations")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_cancellations_subscription_id")),
    )
    with op.batch_alter_table("cancellations", schema=None) as batch_op:
        batch_op.create_index("ix_cancellations_canceled_at", ["canceled_at", "feedback"], unique=False)
        batch_op.create_index(batch_op.f("ix_cancellations_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_cancellations_price", ["price_id", "canceled_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _postgres_console()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA IF EXISTS insights CASCADE")
    with op.batch_alter_table("cancellations", schema=None) as batch_op:
        batch_op.drop_index("ix_cancellations_price")
        batch_op.drop_index(batch_op.f("ix_cancellations_customer_id"))
        batch_op.drop_index("ix_cancellations_canceled_at")

    op.drop_table("cancellations")
