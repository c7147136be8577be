"""The tables of the data model in DESIGN.md. The truth lives here, never only in the broker."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware datetimes only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        stored: dt.datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=dt.UTC)
        return stored.astimezone(dt.UTC)


def _enum(cls: type[StrEnum]) -> Enum:
    # Stored as VARCHAR holding the value, so adding a state needs no ALTER TYPE.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class CampaignKind(StrEnum):
    DIGEST = "digest"
    BULLETIN = "bulletin"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"


class ConsentKind(StrEnum):
    SUBSCRIBE_REQUESTED = "subscribe_requested"
    CONFIRMED = "confirmed"
    IMPORTED = "imported"
    PREFERENCES_CHANGED = "preferences_changed"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"


subscriber_categories = Table(
    "subscriber_categories",
    Base.metadata,
    Column(
        "subscriber_id",
        BigId,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "category_id",
        Integer,
        ForeignKey("categories.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

campaign_categories = Table(
    "campaign_categories",
    Base.metadata,
    Column("campaign_id", BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "category_id", Integer, ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Category(Base):
    """A chuyên mục of the portal; subscribers choose among them."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Category(id={self.id!r}, slug={self.slug!r})"


class Subscriber(Base):
    """One resident's address. `email` is email-validator's normalized form: the key."""

    __tablename__ = "subscribers"
    __table_args__ = (
        # Exactly the subscribers with no category rows: a campaign's start finds them
        # here instead of in an anti-join over every subscriber.
        Index(
            "ix_subscribers_reads_every_category",
            "id",
            postgresql_where=text("reads_every_category"),
            sqlite_where=text("reads_every_category = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus), default=SubscriberStatus.PENDING, index=True
    )
    locale: Mapped[str] = mapped_column(String(16), default="vi")
    source: Mapped[str | None] = mapped_column(String(500))
    bounce_score: Mapped[float] = mapped_column(Float, default=0.0)
    bounce_score_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[dt.datetime | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    confirmation_sent_at: Mapped[dt.datetime | None]
    # "Has no subscriber_categories rows", kept by triggers on that table (migration
    # 0007): never set by the application, read only by a campaign's eligibility query.
    reads_every_category: Mapped[bool] = mapped_column(server_default=true())

    categories: Mapped[list[Category]] = relationship(secondary=subscriber_categories)
    consent_events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="subscriber", passive_deletes=True, order_by="ConsentEvent.id"
    )

    def __repr__(self) -> str:
        return f"Subscriber(id={self.id!r}, status={self.status.value!r})"


class ConsentEvent(Base):
    """Append-only proof of consent and of its withdrawal."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ConsentKind] = mapped_column(_enum(ConsentKind))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    form_text_version: Mapped[str | None] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(String(2000))
    detail: Mapped[str | None] = mapped_column(Text)

    subscriber: Mapped[Subscriber] = relationship(back_populates="consent_events")

    def __repr__(self) -> str:
        return f"ConsentEvent(id={self.id!r}, kind={self.kind.value!r})"


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
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    category: Mapped[Category | None] = relationship()

    def __repr__(self) -> str:
        return f"Article(id={self.id!r}, guid={self.guid!r})"


class Campaign(Base):
    """A digest or a bulletin and its counters. A digest is unique per period."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_campaigns_kind_period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[CampaignKind] = mapped_column(_enum(CampaignKind))
    period: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(500))
    body_markdown: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    window_start: Mapped[dt.datetime | None]
    window_end: Mapped[dt.datetime | None]
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus), default=CampaignStatus.DRAFT, index=True
    )
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # Last time a batch of this campaign marked a row or was enqueued: the reconciler
    # re-enqueues a sending campaign whose progress stalled (its tasks were lost).
    progress_at: Mapped[dt.datetime | None]
    total_count: Mapped[int] = mapped_column(default=0)
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    bounced_count: Mapped[int] = mapped_column(default=0)
    complaint_count: Mapped[int] = mapped_column(default=0)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    categories: Mapped[list[Category]] = relationship(secondary=campaign_categories)

    def __repr__(self) -> str:
        return f"Campaign(id={self.id!r}, kind={self.kind.value!r}, status={self.status.value!r})"


class Delivery(Base):
    """The ledger: one row per (campaign, subscriber). Resumable and idempotent sending."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_deliveries_campaign_subscriber"),
        # A claim asks for (campaign, queued, id in a range): with `id` in the index the
        # range is an index condition. Without it, at 1,000,000 rows, each claim read
        # every queued row of the campaign (~900,000 entries, 177 ms) to keep 50.
        Index("ix_deliveries_campaign_status_id", "campaign_id", "status", "id"),
        # Only rows in flight, for the reconciler: a campaign's start inserts every row
        # as `queued` and so pays nothing for this index (docs/benchmarks.md).
        Index(
            "ix_deliveries_sending_claimed_at",
            "claimed_at",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key to campaigns: its check cost ~7 µs per row at a campaign's start
    # (a third of starting 1,000,000 rows), and it guarded nothing the code does not:
    # rows are only inserted by start_campaign under a lock on their existing campaign,
    # and campaigns are never deleted (docs/delivery.md).
    campaign_id: Mapped[int] = mapped_column(BigId)
    # NULL once the subscriber was erased: the row stays for the campaign's counts. No
    # foreign key either: its check was ~40 % of starting 1,000,000 rows, and the erasure
    # (the only delete of a subscriber) clears this column itself (migration 0006).
    subscriber_id: Mapped[int | None] = mapped_column(BigId, index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(500))
    claimed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Delivery(id={self.id!r}, status={self.status.value!r})"


class Suppression(Base):
    """An address that must never be mailed again, kept only as a hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Suppression(id={self.id!r}, reason={self.reason!r})"


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"AdminUser(id={self.id!r}, username={self.username!r})"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id!r}, name={self.name!r})"


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!r}, action={self.action!r})"


__all__ = [
    "AdminUser",
    "ApiToken",
    "Article",
    "AuditEvent",
    "Base",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Category",
    "ConsentEvent",
    "ConsentKind",
    "Delivery",
    "DeliveryStatus",
    "Feed",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "campaign_categories",
    "subscriber_categories",
]
