"""subscribers.frequency: immediately, daily or weekly

Each resident chooses how often the articles of their categories reach them:
`ngay-khi-co` (one mail per arrival batch), `hang-ngay` (a daily digest) or `hang-tuan`
(the weekly digest, what every existing subscriber has had so far, hence the default).
Stored as text like every other state (no ALTER TYPE to add one). Adding a column with a
constant default rewrites nothing on PostgreSQL 11+ nor on SQLite.

Revision ID: 0009_frequencies
Revises: 0008_security
Create Date: 2026-12-04 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_frequencies"
down_revision: str | None = "0008_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("frequency", sa.String(32), nullable=False, server_default="hang-tuan"),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): batch mode would rebuild the table, which
    # fails on the triggers of migration 0007 (see 0008).
    op.execute("ALTER TABLE subscribers DROP COLUMN frequency")
