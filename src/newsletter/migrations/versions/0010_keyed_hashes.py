"""suppressions.keyed and key_fingerprints: suppression hashes keyed by a secret

New suppressions hold HMAC-SHA256 of the address under a key derived from the secret
(`address_key.py`); the rows already there hold unkeyed SHA-256 and are marked
`keyed = false` here. A migration cannot see the secret, so it re-keys nothing:
`newsletter db upgrade` does that after migrating, for the rows whose address is still
in `subscribers` (docs/security.md). `key_fingerprints` records which key the hashes
were written with, so a changed key is refused instead of silently un-suppressing.

Revision ID: 0010_keyed_hashes
Revises: 0009_frequencies
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_keyed_hashes"
down_revision: str | None = "0009_frequencies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "suppressions",
        sa.Column("keyed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "key_fingerprints",
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose", name=op.f("pk_key_fingerprints")),
    )


def downgrade() -> None:
    op.drop_table("key_fingerprints")
    # Keyed rows cannot be turned back into unkeyed hashes (that needs the address);
    # the older code would never match them, so they go rather than lie in the table.
    op.execute("DELETE FROM suppressions WHERE keyed")
    # Plain DROP COLUMN (SQLite >= 3.35): batch mode would rebuild the table, which
    # fails on the triggers of migration 0007 (see 0008).
    op.execute("ALTER TABLE suppressions DROP COLUMN keyed")
