"""Suppressions: addresses never to be mailed again, kept only as a hash."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Suppression


def suppression_hash(email: str) -> str:
    """sha256 of the address, lowercased: enough to refuse it, useless to mail it."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


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
