"""Sending by frequency: arrival batches, per-subscriber watermarks

- article_batches: one row per transaction that brought new articles (a feed's poll, a
  push to the API, a file import); `alerted_at` is set when its alert was decided, so a
  batch without one (a crash between the commit and the enqueue) is found again.
- articles.batch_id: the batch that first stored the article.
- subscribers.mailed_through: the highest article id already covered by a mail to this
  subscriber (the watermark; docs/delivery.md "Frequencies").
- deliveries.after_article: the watermark a digest or alert row read when first claimed
  (-1: none yet, the campaign's own list), so a row sent again after a crash says the same.
- ix_subscribers_frequency_status: the starts of the three kinds select by both.

Revision ID: 0012_frequency_sending
Revises: 0010_keyed_hashes
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from newsletter.models import UTCDateTime

revision: str = "0012_frequency_sending"
down_revision: str | None = "0010_keyed_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "article_batches",
        sa.Column("id", BIG, nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_article_batches"),
    )
    op.create_index(
        "ix_article_batches_unalerted",
        "article_batches",
        ["id"],
        postgresql_where=sa.text("alerted_at IS NULL"),
        sqlite_where=sa.text("alerted_at IS NULL"),
    )
    op.add_column("articles", sa.Column("batch_id", BIG, nullable=True))
    op.create_index("ix_articles_batch_id", "articles", ["batch_id"])
    op.add_column("subscribers", sa.Column("mailed_through", BIG, nullable=True))
    op.add_column("deliveries", sa.Column("after_article", BIG, nullable=True))
    op.create_index("ix_subscribers_frequency_status", "subscribers", ["frequency", "status"])


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): batch mode would rebuild the table, which
    # fails on the triggers of migration 0007 (see 0008).
    op.drop_index("ix_subscribers_frequency_status", table_name="subscribers")
    op.execute("ALTER TABLE deliveries DROP COLUMN after_article")
    op.execute("ALTER TABLE subscribers DROP COLUMN mailed_through")
    op.drop_index("ix_articles_batch_id", table_name="articles")
    op.execute("ALTER TABLE articles DROP COLUMN batch_id")
    op.drop_index("ix_article_batches_unalerted", table_name="article_batches")
    op.drop_table("article_batches")
