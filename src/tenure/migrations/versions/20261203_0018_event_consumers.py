"""event_consumers: the event log becomes the outbox its consumers follow after commit

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 12:40:00.000000

Webhook deliveries, the insights' cancellation rows, emails and payment retries used to be written
by listeners inside the transaction that recorded each event. They now follow the event log from a
checkpoint each. Every event already in the store was handled by those listeners, so each consumer
starts after the newest one. `events.tx` (the writing transaction, on PostgreSQL) orders what
consumers read there; `events.origin` says who made a change (the portal's cancel flow, an operator).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSUMERS = ("webhooks", "cancellations", "emails", "payment_retries")


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"))
        )
        batch_op.add_column(sa.Column("tx", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_events_tx_pk", ["tx", "pk"], unique=False)
    checkpoints = op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("tx", sa.BigInteger(), nullable=False),
        sa.Column("pk", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )
    newest = op.get_bind().scalar(sa.text("SELECT COALESCE(MAX(pk), 0) FROM events"))
    op.bulk_insert(
        checkpoints,
        [
            {
                "name": name,
                "tx": 0,
                "pk": int(newest or 0),
                "failures": 0,
                "last_error": None,
                "updated_at": 0,
            }
            for name in CONSUMERS
        ],
    )


def downgrade() -> None:
    op.drop_table("event_consumers")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_tx_pk")
        batch_op.drop_column("tx")
        batch_op.drop_column("origin")
