"""Suppressions: addresses never to be mailed again, kept only as a hash."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Suppression

# One hash for every writer and reader of the table (bounces, erase, delivery): the
# address normalized by email-validator (IDN domains in Unicode), then lowercased.
from newsletter.subscribers.addresses import suppression_hash

__all__ = ["SUPPRESSION_ERASED", "is_suppressed", "suppress", "suppression_hash"]

# Suppression reasons. Only an erased address may subscribe again (its owner can prove
# the mailbox by confirming); bounces and complaints keep an address silent for good.
SUPPRESSION_ERASED = "erased"


def is_suppressed(session: Session, email: str) -> bool:
    return (
        session.scalar(
            select(Suppression.id).where(Suppression.email_hash == suppression_hash(email))
        )
        is not None
    )


def suppress(session: Session, *, email: str, reason: str, detail: str | None = None) -> bool:
    """Add `email` to the suppression list; False when it was there already."""
    if is_suppressed(session, email):
        return False
    session.add(Suppression(email_hash=suppression_hash(email), reason=reason, detail=detail))
    session.flush()
    return True
