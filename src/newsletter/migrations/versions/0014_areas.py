"""Areas (khu vực): wards and communes residents choose, and bulletins target

- areas: a code (the portal's own, or the official administrative code), a Vietnamese
  name and an optional parent area (a ward inside a district).
- subscriber_areas: the areas a resident chose; none means every area.
- campaign_areas: the areas a bulletin targets; none means every area.
- subscribers.reads_every_area: "has no subscriber_areas rows", kept by triggers exactly
  as reads_every_category is (migration 0007, whose notes on concurrency hold here too),
  with a partial index, so a targeted bulletin's start finds the residents without an
  area in an index instead of an anti-join over every subscriber.

Revision ID: 0014_areas
Revises: 0013_manage_retention
Create Date: 2026-12-04 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_areas"
down_revision: str | None = "0013_manage_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSTGRESQL_UP = (
    """
    CREATE FUNCTION subscriber_areas_added() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE subscribers SET reads_every_area = false
        WHERE reads_every_area AND id IN (SELECT subscriber_id FROM added);
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION subscriber_areas_removed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE subscribers SET reads_every_area = true
        WHERE NOT reads_every_area
          AND id IN (SELECT subscriber_id FROM removed)
          AND NOT EXISTS (
              SELECT 1 FROM subscriber_areas
              WHERE subscriber_areas.subscriber_id = subscribers.id
          );
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscriber_areas_added
    AFTER INSERT ON subscriber_areas REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_areas_added()
    """,
    """
    CREATE TRIGGER subscriber_areas_removed
    AFTER DELETE ON subscriber_areas REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION subscriber_areas_removed()
    """,
)
_POSTGRESQL_DOWN = (
    "DROP TRIGGER subscriber_areas_removed ON subscriber_areas",
    "DROP TRIGGER subscriber_areas_added ON subscriber_areas",
    "DROP FUNCTION subscriber_areas_removed()",
    "DROP FUNCTION subscriber_areas_added()",
)
_SQLITE_UP = (
    """
    CREATE TRIGGER subscriber_areas_added
    AFTER INSERT ON subscriber_areas
    BEGIN
        UPDATE subscribers SET reads_every_area = 0
        WHERE id = NEW.subscriber_id AND reads_every_area;
    END
    """,
    """
    CREATE TRIGGER subscriber_areas_removed
    AFTER DELETE ON subscriber_areas
    BEGIN
        UPDATE subscribers SET reads_every_area = 1
        WHERE id = OLD.subscriber_id
          AND NOT reads_every_area
          AND NOT EXISTS (
              SELECT 1 FROM subscriber_areas WHERE subscriber_id = OLD.subscriber_id
          );
    END
    """,
)
_SQLITE_DOWN = ("DROP TRIGGER subscriber_areas_removed", "DROP TRIGGER subscriber_areas_added")


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["areas.id"], name="fk_areas_parent_id_areas", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_areas"),
        sa.UniqueConstraint("code", name="uq_areas_code"),
    )
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "subscriber_areas",
        sa.Column("subscriber_id", big_id, nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_subscriber_areas_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name="fk_subscriber_areas_area_id_areas", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "area_id", name="pk_subscriber_areas"),
    )
    op.create_index("ix_subscriber_areas_area_id", "subscriber_areas", ["area_id"])
    op.create_table(
        "campaign_areas",
        sa.Column("campaign_id", big_id, nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_areas_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name="fk_campaign_areas_area_id_areas", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "area_id", name="pk_campaign_areas"),
    )
    op.add_column(
        "subscribers",
        sa.Column("reads_every_area", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.create_index(
        "ix_subscribers_reads_every_area",
        "subscribers",
        ["id"],
        unique=False,
        postgresql_where=sa.text("reads_every_area"),
        sqlite_where=sa.text("reads_every_area = 1"),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_UP if sqlite else _POSTGRESQL_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _POSTGRESQL_DOWN:
        op.execute(statement)
    op.drop_index("ix_subscribers_reads_every_area", table_name="subscribers")
    # Plain DROP COLUMN: batch mode would rebuild the table and trip 0007's triggers.
    op.execute("ALTER TABLE subscribers DROP COLUMN reads_every_area")
    op.drop_table("campaign_areas")
    op.drop_index("ix_subscriber_areas_area_id", table_name="subscriber_areas")
    op.drop_table("subscriber_areas")
    op.drop_table("areas")
