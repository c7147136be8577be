"""Links name one subscriber for ever; admin sessions end at logout

- subscribers.id is never given twice on SQLite either (AUTOINCREMENT): an id freed by
  erasing the newest subscriber went to the next one, and every link mailed to the
  erased resident then acted on that next person.
- subscribers.link_key: a random key per subscriber, carried in every unsubscribe and
  preferences link and deleted with the row, so an old link acts on no one.
  Every existing row gets its own key; links mailed before this migration stop working
  (they carry no key) and lead to the "invalid link" page, which offers to subscribe.
- subscribers.confirm_key and pending_request: the one confirmation link that works, and
  what its request asked for, applied only once confirmed.
- admin_users.session_version: carried in the session cookie, raised at logout.

SQLite can only add AUTOINCREMENT by rebuilding the table, as Alembic's batch mode does
(new table, copy, DROP, RENAME), but by hand around two traps of batch mode here. With
foreign keys on (the migration runs in a transaction, where `PRAGMA foreign_keys`
cannot change) the DROP deletes every subscriber's categories and consent events by
cascade: the child tables are copied first and refilled after. And the RENAME re-reads
every trigger, which fails while subscriber_categories' triggers name a table that is
gone: they are dropped and recreated from their own stored SQL, as are the indexes.
Rows, ids, indexes and triggers survive (a test checks each).

Revision ID: 0008_security
Revises: 0007_reads_every_category
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_security"
down_revision: str | None = "0007_reads_every_category"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRIMARY_KEY = "CONSTRAINT pk_subscribers PRIMARY KEY (id)"
_AUTOINCREMENT_ID = "id INTEGER NOT NULL CONSTRAINT pk_subscribers PRIMARY KEY AUTOINCREMENT"
_NEW_COLUMNS_SQLITE = (
    "link_key VARCHAR(32) DEFAULT (lower(hex(randomblob(16)))) NOT NULL",
    "confirm_key VARCHAR(32)",
    "pending_request TEXT",
)
_NEW_COLUMN_NAMES = ("link_key", "confirm_key", "pending_request")


def _before_constraints(create: str, addition: str) -> str:
    """`create` with `addition` placed after the last column (columns precede constraints)."""
    head, constraint, tail = create.partition("CONSTRAINT uq_subscribers_email")
    return head + addition + ", \n\t" + constraint + tail


def _with_autoincrement(create: str) -> str:
    create = re.sub(r",\s*" + re.escape(_PRIMARY_KEY), "", create, count=1)
    create = re.sub(r"\bid INTEGER NOT NULL\b", _AUTOINCREMENT_ID, create, count=1)
    return _before_constraints(create, ", \n\t".join(_NEW_COLUMNS_SQLITE))


def _without_autoincrement(create: str) -> str:
    for column in _NEW_COLUMNS_SQLITE:
        create = re.sub(r"\s*" + re.escape(column) + ",", "", create)
    create = create.replace(_AUTOINCREMENT_ID, "id INTEGER NOT NULL")
    return _before_constraints(create, _PRIMARY_KEY)


def _rebuild_sqlite_subscribers(transform: Callable[[str], str]) -> None:
    bind = op.get_bind()

    def rows(sql: str) -> list[tuple[str, ...]]:
        return [tuple(row) for row in bind.exec_driver_sql(sql).all()]

    create = rows("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'subscribers'")
    indexes = rows(
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = 'subscribers' AND sql IS NOT NULL"
    )
    triggers = rows(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%subscribers%'"
    )
    children = [
        table
        for (table,) in rows("SELECT name FROM sqlite_master WHERE type = 'table'")
        if any(fk[2] == "subscribers" for fk in rows(f"PRAGMA foreign_key_list({table})"))
    ]
    old_columns = {row[1] for row in rows("PRAGMA table_info(subscribers)")}
    for name, _sql in triggers:
        op.execute(f"DROP TRIGGER {name}")
    for table in children:
        op.execute(f"CREATE TEMP TABLE _kept_{table} AS SELECT * FROM {table}")
    op.execute(transform(create[0][0]).replace("subscribers", "_subscribers_0008", 1))
    kept = [row[1] for row in rows("PRAGMA table_info(_subscribers_0008)") if row[1] in old_columns]
    columns = ", ".join(kept)
    op.execute(f"INSERT INTO _subscribers_0008 ({columns}) SELECT {columns} FROM subscribers")
    # Deletes the children's rows by cascade; they come back from the copies below.
    op.execute("DROP TABLE subscribers")
    op.execute("ALTER TABLE _subscribers_0008 RENAME TO subscribers")
    for table in children:
        op.execute(f"INSERT INTO {table} SELECT * FROM temp._kept_{table}")
        op.execute(f"DROP TABLE temp._kept_{table}")
    for _name, sql in indexes + triggers:
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_subscribers(_with_autoincrement)
    else:
        # A volatile default is evaluated per row, so every existing row gets its own key.
        op.add_column(
            "subscribers",
            sa.Column(
                "link_key",
                sa.String(length=32),
                server_default=sa.text("replace(gen_random_uuid()::text, '-', '')"),
                nullable=False,
            ),
        )
        op.add_column("subscribers", sa.Column("confirm_key", sa.String(length=32)))
        op.add_column("subscribers", sa.Column("pending_request", sa.Text()))
    op.add_column(
        "admin_users",
        sa.Column("session_version", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_subscribers(_without_autoincrement)
    else:
        for name in _NEW_COLUMN_NAMES:
            op.drop_column("subscribers", name)
