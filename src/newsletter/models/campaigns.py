"""Campaigns and their delivery ledger: one row per (campaign, subscriber)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.models.areas import Area
from newsletter.models.base import Base, BigId, _enum, utcnow
from newsletter.models.enums import CampaignKind, CampaignStatus, DeliveryStatus
from newsletter.models.subscribers import Category, campaign_categories


class Campaign(Base):
    """A digest or a bulletin and its counters. A digest is unique per period."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("kind", "period", name="uq_campaigns_kind_period"),
        # Beat asks every minute for due drafts: only scheduled rows are in this index.
        Index(
            "ix_campaigns_send_at",
            "send_at",
            postgresql_where=text("send_at IS NOT NULL"),
            sqlite_where=text("send_at IS NOT NULL"),
        ),
    )

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
    # Two officials (campaigns/approval.py): who approved the current text, whether its
    # author could not send it alone (an editor, a `bulletins:draft` token), and an
    # approver's emergency send without a second official, with its reason.
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime | None]
    needs_approval: Mapped[bool] = mapped_column(default=False, server_default=false())
    emergency_reason: Mapped[str | None] = mapped_column(Text)
    emergency_by: Mapped[str | None] = mapped_column(String(200))
    # Sending at a set time (campaigns/schedule.py): beat starts the draft when due, or
    # writes in schedule_note why it did not.
    send_at: Mapped[dt.datetime | None]
    scheduled_by: Mapped[str | None] = mapped_column(String(200))
    schedule_note: Mapped[str | None] = mapped_column(Text)

    categories: Mapped[list[Category]] = relationship(secondary=campaign_categories)
    areas: Mapped[list[Area]] = relationship(secondary="campaign_areas", order_by="Area.code")

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
    # A digest's or alert's row: the subscriber's watermark read at its first claim (-1:
    # none, the campaign's own articles), so a row sent again says the same thing.
    after_article: Mapped[int | None] = mapped_column(BigId)
    sent_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"Delivery(id={self.id!r}, status={self.status.value!r})"
