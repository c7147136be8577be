"""subscribers: a pending address change and the last "Quản lý đăng ký" mail

`pending_email` / `pending_email_key` / `pending_email_at`: a new address typed on the
preferences page, which replaces `email` only once the link mailed to it is followed.
`manage_sent_at`: when the last link to the preferences page was mailed on request, so
one address gets at most one such mail every few minutes. Nullable columns without a
default: adding them rewrites nothing on PostgreSQL or SQLite.

Revision ID: 0013_manage_retention
Revises: 0012_frequency_sending
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.models.base import UTCDateTime

revision: str = "0013_manage_retention"
down_revision: str | None = "0012_frequency_sending"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("pending_email", "pending_email_key", "pending_email_at", "manage_sent_at")


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("pending_email", sa.String(320), nullable=True))
    op.add_column("subscribers", sa.Column("pending_email_key", sa.String(32), nullable=True))
    op.add_column("subscribers", sa.Column("pending_email_at", UTCDateTime(), nullable=True))
    op.add_column("subscribers", sa.Column("manage_sent_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): batch mode would rebuild the table, which
    # fails on the triggers of migration 0007 (see 0008).
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE subscribers DROP COLUMN {column}")
