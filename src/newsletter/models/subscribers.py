"""Residents: categories they choose, subscribers, consent events, suppressions."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.models.areas import Area
from newsletter.models.base import Base, BigId, _enum, utcnow
from newsletter.models.enums import ConsentKind, Frequency, SubscriberStatus


def new_link_key() -> str:
    """A fresh per-subscriber key: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


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
        # The starts of weekly, daily and immediate mail select by both.
        Index("ix_subscribers_frequency_status", "frequency", "status"),
        # The same for "has no area" (migration 0014).
        Index(
            "ix_subscribers_reads_every_area",
            "id",
            postgresql_where=text("reads_every_area"),
            sqlite_where=text("reads_every_area = 1"),
        ),
        # An id is never given twice, even after the newest subscriber is erased: a link
        # mailed to an erased resident must never name the next one (PostgreSQL's
        # sequence already never goes back).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus), default=SubscriberStatus.PENDING, index=True
    )
    locale: Mapped[str] = mapped_column(String(16), default="vi")
    frequency: Mapped[Frequency] = mapped_column(
        _enum(Frequency), default=Frequency.WEEKLY, server_default=Frequency.WEEKLY.value
    )
    # The watermark: the highest article id a mail to this subscriber already covered
    # (advanced when a digest or alert row is claimed; docs/delivery.md "Frequencies").
    mailed_through: Mapped[int | None] = mapped_column(BigId)
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
    # "Has no subscriber_areas rows" (every area), kept the same way (migration 0014).
    reads_every_area: Mapped[bool] = mapped_column(server_default=true())
    # Carried in every unsubscribe and preferences link (signing.resident_token): a link
    # acts only on the subscriber holding the same key, and erasure deletes the key with
    # the row. Filled by the database for rows inserted in SQL (migration 0008).
    link_key: Mapped[str] = mapped_column(String(32), default=new_link_key)
    # The key of the one confirmation link that still works (a new confirmation replaces
    # it; unsubscribing clears it), and what that request asked for (JSON: name,
    # categories), applied only once confirmed, so a stranger's request changes nothing.
    confirm_key: Mapped[str | None] = mapped_column(String(32))
    pending_request: Mapped[str | None] = mapped_column(Text)
    # A new address typed on the preferences page: it replaces `email` only once the link
    # mailed to it (keyed by `pending_email_key`) is followed (subscribers/change_address.py).
    pending_email: Mapped[str | None] = mapped_column(String(320))
    pending_email_key: Mapped[str | None] = mapped_column(String(32))
    pending_email_at: Mapped[dt.datetime | None]
    # When the last "Quản lý đăng ký" link was mailed: at most one per few minutes.
    manage_sent_at: Mapped[dt.datetime | None]

    categories: Mapped[list[Category]] = relationship(secondary=subscriber_categories)
    areas: Mapped[list[Area]] = relationship(secondary="subscriber_areas", order_by="Area.code")
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


class Suppression(Base):
    """An address that must never be mailed again, kept only as a hash.

    `keyed`: the hash is HMAC-SHA256 under the address key (`address_key.py`); rows
    written before that hold the unkeyed SHA-256 until they are re-keyed.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    keyed: Mapped[bool] = mapped_column(default=True, server_default=false())
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Suppression(id={self.id!r}, reason={self.reason!r})"


class KeyFingerprint(Base):
    """Which key a purpose's hashes were written with (`address_key.key_problem`)."""

    __tablename__ = "key_fingerprints"

    purpose: Mapped[str] = mapped_column(String(40), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"KeyFingerprint(purpose={self.purpose!r})"
