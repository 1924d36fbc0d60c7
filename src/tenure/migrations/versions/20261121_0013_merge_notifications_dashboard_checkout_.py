"""merge notifications, dashboard, checkout and insights

Revision ID: 0013
Revises: 0009, 0010, 0011, 0012
Create Date: 2026-11-21 15:09:06.558214
"""

from __future__ import annotations

from collections.abc import Sequence

# Autogenerate renders JSONB columns with `astext_type=Text()`.
from sqlalchemy import Text  # noqa: F401

revision: str = "0013"
down_revision: tuple[str, ...] | None = ("0009", "0010", "0011", "0012")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
