"""Articles and the feeds they come from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.models.base import Base, BigId, utcnow
from newsletter.models.subscribers import Category


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL")
    )
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    category: Mapped[Category | None] = relationship()

    def __repr__(self) -> str:
        return f"Feed(id={self.id!r}, url={self.url!r})"


class ArticleBatch(Base):
    """The new articles one transaction brought (a feed's poll, a push, an import).

    Ids follow commit order: inserting transactions take one lock first
    (content/arrivals.py), so an id below a committed one is never committed later.
    `alerted_at`: when the batch's alert to "ngay-khi-co" subscribers was decided.
    """

    __tablename__ = "article_batches"
    __table_args__ = (
        Index(
            "ix_article_batches_unalerted",
            "id",
            postgresql_where=text("alerted_at IS NULL"),
            sqlite_where=text("alerted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    alerted_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"ArticleBatch(id={self.id!r})"


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_at", "published_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    guid: Mapped[str] = mapped_column(String(2000), unique=True)
    url: Mapped[str] = mapped_column(String(2000), index=True)
    title: Mapped[str] = mapped_column(String(1000))
    summary: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(String(2000))
    author: Mapped[str | None] = mapped_column(String(300))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime]
    # The arrival batch that first stored it (NULL: stored before batches existed).
    batch_id: Mapped[int | None] = mapped_column(BigId, index=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    category: Mapped[Category | None] = relationship()

    def __repr__(self) -> str:
        return f"Article(id={self.id!r}, guid={self.guid!r})"
