"""What one incoming message reports, and the one rule for addresses read from reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.bounces.classify import BounceKind
from newsletter.subscribers.addresses import mailbox_key


@dataclass(frozen=True)
class RecipientFailure:
    address: str  # a valid mailbox, or "" when the report names none (VERP still may)
    kind: BounceKind
    status: str | None = None
    diagnostic: str | None = None


@dataclass
class BounceReport:
    """What one incoming message reports."""

    failures: list[RecipientFailure] = field(default_factory=list)
    # From the VERP address the bounce was sent to (signed, so it cannot be forged).
    delivery_id: int | None = None
    # From the unsubscribe token in the original message's List-Unsubscribe (ARF).
    subscriber_id: int | None = None
    feedback_type: str | None = None
    forged_verp: bool = False
    # An out-of-office or vacation reply: nobody's failure, dropped without effect.
    auto_reply: bool = False
    # A mail to the List-Unsubscribe mailto address (unsubscribe+TOKEN@…): whose request.
    unsubscribe_request: tuple[int, str] | None = None  # (subscriber id, link key)
    # Which reader understood the message ("dsn", "arf", "ses", "opensmtpd", ...).
    source: str | None = None

    @property
    def kind(self) -> BounceKind | None:
        kinds = {f.kind for f in self.failures}
        for kind in (BounceKind.COMPLAINT, BounceKind.HARD, BounceKind.POLICY, BounceKind.SOFT):
            if kind in kinds:
                return kind
        return None


def mailbox(text: str | None) -> str | None:
    """`text` as a normalized mailbox, or None: a report's word for an address is never
    trusted to be one (X.400 strings, pipe commands, paths and fragments come back too)."""
    if not text:
        return None
    return mailbox_key(text)
