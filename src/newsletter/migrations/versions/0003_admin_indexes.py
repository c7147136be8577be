"""index subscribers by creation time (dashboard: new subscriptions per week)

Revision ID: 0003_admin
Revises: 0002_delivery
Create Date: 2026-11-28 10:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_admin"
down_revision: str | None = "0002_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.create_index("ix_subscribers_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_created_at")
