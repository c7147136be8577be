"""The states and kinds the tables store, as StrEnums (their values are the stored text)."""

from __future__ import annotations

from enum import StrEnum


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Frequency(StrEnum):
    """How often a resident gets the articles of their categories (urgent bulletins: always)."""

    IMMEDIATELY = "ngay-khi-co"
    DAILY = "hang-ngay"
    WEEKLY = "hang-tuan"


class CampaignKind(StrEnum):
    DIGEST = "digest"  # the weekly digest
    BULLETIN = "bulletin"
    DAILY_DIGEST = "daily_digest"
    # New articles of one arrival batch, for residents who chose "ngay-khi-co".
    ALERT = "alert"


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
    # A new address typed on the preferences page, and its owner confirming it; the
    # event of the address given up names it (detail), for the proof of who consented.
    ADDRESS_CHANGE_REQUESTED = "address_change_requested"
    ADDRESS_CHANGED_AWAY = "address_changed_away"
    ADDRESS_CONFIRMED = "address_confirmed"
