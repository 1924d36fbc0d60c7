"""subscriptions_claim_index: the billing run's claim reads a batch off an index, without a sort

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 18:00:00.000000

The billing run takes the due subscriptions not on a test clock oldest due first
(`ORDER BY next_action_at, pk`). `ix_subscriptions_due` (test_clock_id, next_action_at) finds them
but not in that order: every batch sorted the whole due set, which at a renewal date is most of
the book, sharing one due moment. A partial index on (next_action_at, pk) over the rows the claim
can take gives a batch as its first rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE = "test_clock_id IS NULL AND next_action_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_claim",
            ["next_action_at", "pk"],
            unique=False,
            postgresql_where=sa.text(CLAIMABLE),
            sqlite_where=sa.text(CLAIMABLE),
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_claim")
