"""The seam between composition and delivery: what a batch sends for each recipient.

The delivery engine (delivery/batch.py) claims ledger rows and asks a composer for the bytes
of each message; composition (mail/composer.py) knows templates, headers and DKIM. Neither
reaches into the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Recipient:
    """One claimed ledger row, with what composing its message needs."""

    delivery_id: int
    subscriber_id: int
    email: str  # the normalized address (may hold a Unicode domain)
    category_ids: frozenset[int]  # empty: every category
    # The subscriber's link_key, signed into its unsubscribe and preferences links; a
    # preview or test mail has none, and its links then open no one's preferences.
    link_key: str = ""
    # A digest's or alert's row: the subscriber's watermark (delivery/watermarks.py);
    # None: the campaign's own list of articles.
    after_article: int | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    envelope_from: str  # Return-Path: VERP address when BOUNCE_DOMAIN is set
    recipient: str  # envelope recipient, domain as A-labels
    message_id: str
    data: bytes


class Composer(Protocol):
    """Builds each recipient's message of one campaign; built once per batch."""

    def compose(self, recipient: Recipient) -> OutgoingMessage: ...
