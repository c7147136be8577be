"""subscribers.reads_every_category: "no category rows" stored, kept by the database

A subscriber with no rows in subscriber_categories reads every category (DESIGN.md).
Finding those subscribers meant an anti-join over every subscriber at every campaign's
start: 0.5 s of the ~1 s an urgent bulletin to 10,000 of 1,000,000 residents spent
before its first batch could be queued (docs/benchmarks.md). The flag turns that half of
the eligibility query into a scan of a partial index holding exactly those subscribers.

The flag is derived, never written by the application: triggers on
subscriber_categories keep it equal to "has no rows" after every insert and delete,
whoever makes them — the ORM, the one-statement subscribe on PostgreSQL, an import, a
category's deletion cascading its rows away, or an operator's hand-written SQL.

Concurrency: a trigger recomputes from what its statement sees. Two transactions
changing one subscriber's categories at once could leave the flag stale, were they not
serialized: every application path locks the subscriber's row first (it updates the
row, or selects it FOR UPDATE) before touching its category rows. Hand-written SQL that
changes one subscriber's categories from two sessions at once should do the same.

Revision ID: 0007_reads_every_category
Revises: 0006_no_subscriber_fk
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_reads_every_category"
down_revision: str | None = "0006_no_subscriber_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: statement-level triggers with transition tables, so an import or a seed of
# 100,000 rows runs one UPDATE, not 100,000. A delete recomputes from what is left, which
# keeps the flag right whatever order the ORM flushes a changed set of categories in.
_POSTGRESQL_UP = (
    """
    CREATE FUNCTION subscriber_categories_added() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE subscribers SET reads_every_category = false
        WHERE reads_every_category AND id IN (SELECT subscriber_id FROM added);
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION subscriber_categories_removed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE subscribers SET reads_every_category = true
        WHERE NOT reads_every_category
          AND id IN (SELECT subscriber_id FROM removed)
          AND NOT EXISTS (
              SELECT 1 FROM subscriber_categories
              WHERE subscriber_categories.subscriber_id = subscribers.id
          );
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscriber_categories_added
    AFTER INSERT ON subscriber_categories REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_categories_added()
    """,
    """
    CREATE TRIGGER subscriber_categories_removed
    AFTER DELETE ON subscriber_categories REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_categories_removed()
    """,
)
_POSTGRESQL_DOWN = (
    "DROP TRIGGER subscriber_categories_removed ON subscriber_categories",
    "DROP TRIGGER subscriber_categories_added ON subscriber_categories",
    "DROP FUNCTION subscriber_categories_removed()",
    "DROP FUNCTION subscriber_categories_added()",
)
# SQLite has row-level triggers only (and runs them for foreign-key cascades too).
_SQLITE_UP = (
    """
    CREATE TRIGGER subscriber_categories_added
    AFTER INSERT ON subscriber_categories
    BEGIN
        UPDATE subscribers SET reads_every_category = 0
        WHERE id = NEW.subscriber_id AND reads_every_category;
    END
    """,
    """
    CREATE TRIGGER subscriber_categories_removed
    AFTER DELETE ON subscriber_categories
    BEGIN
        UPDATE subscribers SET reads_every_category = 1
        WHERE id = OLD.subscriber_id
          AND NOT reads_every_category
          AND NOT EXISTS (
              SELECT 1 FROM subscriber_categories WHERE subscriber_id = OLD.subscriber_id
          );
    END
    """,
)
_SQLITE_DOWN = (
    "DROP TRIGGER subscriber_categories_removed",
    "DROP TRIGGER subscriber_categories_added",
)


def upgrade() -> None:
    op.add_column(
        "subscribers",
        sa.Column("reads_every_category", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.execute(
        "UPDATE subscribers SET reads_every_category = false WHERE id IN"
        " (SELECT subscriber_id FROM subscriber_categories)"
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_index(
        "ix_subscribers_reads_every_category",
        "subscribers",
        ["id"],
        unique=False,
        postgresql_where=sa.text("reads_every_category"),
        sqlite_where=sa.text("reads_every_category = 1"),
    )
    for statement in _SQLITE_UP if sqlite else _POSTGRESQL_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _POSTGRESQL_DOWN:
        op.execute(statement)
    op.drop_index("ix_subscribers_reads_every_category", table_name="subscribers")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("reads_every_category")
