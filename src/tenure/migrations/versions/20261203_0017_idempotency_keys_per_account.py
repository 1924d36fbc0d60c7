"""idempotency_keys_per_account: one idempotency record per key, whichever API key sent it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 09:00:00.000000

Keys were unique per API key, so a retry sent with a rolled key ran the request again. Where that
happened (or two API keys chose the same key), only the newest record is kept: it is the one a
retry would have been answered with since.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Newest by `created`, then by `pk` (insertion order) within one second.
DELETE_OLDER_DUPLICATES = """
DELETE FROM idempotency_records
WHERE EXISTS (
    SELECT 1 FROM idempotency_records AS newer
    WHERE newer.key = idempotency_records.key
      AND (newer.created > idempotency_records.created
           OR (newer.created = idempotency_records.created AND newer.pk > idempotency_records.pk))
)
"""


def upgrade() -> None:
    op.execute(DELETE_OLDER_DUPLICATES)
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_idempotency_records_key", type_="unique")
        batch_op.create_unique_constraint("uq_idempotency_records_key", ["key"])


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_constraint("uq_idempotency_records_key", type_="unique")
        batch_op.create_unique_constraint("uq_idempotency_records_key", ["api_key_id", "key"])
