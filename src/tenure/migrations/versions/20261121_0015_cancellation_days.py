"""cancellation_days: the insights' daily rollup, backfilled from cancellations

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-21 17:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The grouping of tenure.insights.daily, frozen here as it was when the table was created.
BACKFILL = """
INSERT INTO cancellation_days (day, reason, feedback, price_id, currency, tenure_bucket, count, mrr)
SELECT canceled_at - canceled_at % 86400, reason, coalesce(feedback, ''), coalesce(price_id, ''), currency,
       CASE WHEN tenure_days < 30 THEN 'lt_1m' WHEN tenure_days < 91 THEN '1_3m'
            WHEN tenure_days < 182 THEN '3_6m' WHEN tenure_days < 365 THEN '6_12m' ELSE 'gt_12m' END,
       count(*), sum(mrr)
FROM cancellations
GROUP BY 1, 2, 3, 4, 5, 6
"""


def upgrade() -> None:
    op.create_table(
        "cancellation_days",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("feedback", sa.String(length=40), nullable=False),
        sa.Column("price_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tenure_bucket", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mrr", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint(
            "day",
            "reason",
            "feedback",
            "price_id",
            "currency",
            "tenure_bucket",
            name="uq_cancellation_days_key",
        ),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("cancellation_days")
