"""Roles of officials, scopes of API tokens, approval and schedule of bulletins

- admin_users.role (viewer | editor | approver | admin): every existing official was an
  administrator, so existing rows become `admin`; admin_users.disabled_at.
- api_tokens.scopes: space-separated; existing tokens could do everything, so they get
  every scope.
- campaigns: who approved (and when), whether its author could not send it alone
  (`needs_approval`), an emergency send's reason and official, the time it is to start
  (`send_at`), who scheduled it, and why a due bulletin did not start (`schedule_note`).

Revision ID: 0015_roles_approval
Revises: 0014_areas
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_roles_approval"
down_revision: str | None = "0014_areas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_SCOPES = "read articles:write bulletins:draft bulletins:send"

CAMPAIGN_COLUMNS = (
    "approved_by",
    "approved_at",
    "needs_approval",
    "emergency_reason",
    "emergency_by",
    "send_at",
    "scheduled_by",
    "schedule_note",
)


def upgrade() -> None:
    op.add_column(
        "admin_users", sa.Column("role", sa.String(16), nullable=False, server_default="admin")
    )
    op.add_column("admin_users", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column(
        "api_tokens",
        sa.Column("scopes", sa.String(200), nullable=False, server_default=ALL_SCOPES),
    )
    op.add_column("campaigns", sa.Column("approved_by", sa.String(200)))
    op.add_column("campaigns", sa.Column("approved_at", sa.DateTime(timezone=True)))
    op.add_column(
        "campaigns",
        sa.Column("needs_approval", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("campaigns", sa.Column("emergency_reason", sa.Text()))
    op.add_column("campaigns", sa.Column("emergency_by", sa.String(200)))
    op.add_column("campaigns", sa.Column("send_at", sa.DateTime(timezone=True)))
    op.add_column("campaigns", sa.Column("scheduled_by", sa.String(200)))
    op.add_column("campaigns", sa.Column("schedule_note", sa.Text()))
    # Beat asks every minute for due drafts: only scheduled rows are in this index.
    op.create_index(
        "ix_campaigns_send_at",
        "campaigns",
        ["send_at"],
        postgresql_where=sa.text("send_at IS NOT NULL"),
        sqlite_where=sa.text("send_at IS NOT NULL"),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): batch mode would rebuild the tables, which
    # fails on the triggers of migration 0007 (see 0008).
    op.drop_index("ix_campaigns_send_at", table_name="campaigns")
    for column in CAMPAIGN_COLUMNS:
        op.execute(f"ALTER TABLE campaigns DROP COLUMN {column}")
    op.execute("ALTER TABLE api_tokens DROP COLUMN scopes")
    op.execute("ALTER TABLE admin_users DROP COLUMN disabled_at")
    op.execute("ALTER TABLE admin_users DROP COLUMN role")
