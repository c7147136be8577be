"""The states and kinds the tables store, as StrEnums (their values are the stored text)."""

from __future__ import annotations

from enum import StrEnum


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
