"""subscribers.email: the local part lower-cased too (one mailbox, one subscriber)

The key used to keep the local part's case, so `An@x.vn` and `an@x.vn` could be two
subscribers of one mailbox, each mailed. Every stored address is lower-cased unless that
would collide with another row of the same mailbox: such pairs (made before this
migration) are left as they are, both valid, rather than merged or lost.

Revision ID: 0005_email_case
Revises: 0004_fast_start
Create Date: 2026-11-28 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_email_case"
down_revision: str | None = "0004_fast_start"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE subscribers SET email = lower(email) WHERE email <> lower(email)"
        " AND lower(email) IN (SELECT lower(email) FROM subscribers"
        " GROUP BY lower(email) HAVING count(*) = 1)"
    )


def downgrade() -> None:
    pass  # the original letter case is not kept; lower-case keys work with the old code
