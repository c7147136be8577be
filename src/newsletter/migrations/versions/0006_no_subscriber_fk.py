"""deliveries: no foreign key to subscribers (erasure clears the column itself)

Starting a campaign of 1,000,000 rows spent ~40 % of its time in this key's check, one
look-up per inserted row (docs/benchmarks.md). What the key did is done by the code:
`subscriptions.erase_subscriber`, the only place a subscriber is deleted, sets the
ledger's `subscriber_id` to NULL itself before deleting; rows are only inserted by
`start_campaign` from a SELECT of existing subscribers; and a claim outer-joins the
subscriber, so a row whose subscriber was erased at the same moment is skipped, not sent.

Revision ID: 0006_no_subscriber_fk
Revises: 0005_email_case
Create Date: 2026-12-01 08:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_no_subscriber_fk"
down_revision: str | None = "0005_email_case"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_subscriber_id_subscribers", type_="foreignkey")


def downgrade() -> None:
    # Rows of subscribers erased meanwhile already hold NULL, so the key can come back.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_deliveries_subscriber_id_subscribers",
            "subscribers",
            ["subscriber_id"],
            ["id"],
            ondelete="SET NULL",
        )
