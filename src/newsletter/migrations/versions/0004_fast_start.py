"""deliveries: no foreign key to campaigns, a partial index for rows in flight, claims by id

Starting a campaign of 1,000,000 rows spent a third of its time checking the foreign key
to campaigns and maintaining an index of (status, claimed_at) that only the reconciler
reads, and only for rows `sending`. And a claim (campaign, queued, id range) read every
queued row of the campaign from the (campaign_id, status) index: `id` joins it
(docs/benchmarks.md).

Revision ID: 0004_fast_start
Revises: 0003_admin
Create Date: 2026-11-28 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_fast_start"
down_revision: str | None = "0003_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_FLIGHT = sa.text("status = 'sending'")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_campaign_id_campaigns", type_="foreignkey")
        batch_op.drop_index("ix_deliveries_status_claimed_at")
        batch_op.drop_index("ix_deliveries_campaign_status")
        batch_op.create_index(
            "ix_deliveries_campaign_status_id", ["campaign_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_deliveries_sending_claimed_at",
            ["claimed_at"],
            unique=False,
            postgresql_where=_IN_FLIGHT,
            sqlite_where=_IN_FLIGHT,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_sending_claimed_at")
        batch_op.drop_index("ix_deliveries_campaign_status_id")
        batch_op.create_index(
            "ix_deliveries_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_deliveries_status_claimed_at", ["status", "claimed_at"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_deliveries_campaign_id_campaigns",
            "campaigns",
            ["campaign_id"],
            ["id"],
            ondelete="CASCADE",
        )
