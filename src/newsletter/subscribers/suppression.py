"""Suppressions: addresses never to be mailed again, kept only as a keyed hash.

Every writer and reader of the table (bounces, erase, subscribe, delivery) hashes the
same text, `addresses.suppression_text` (the address normalized by email-validator, IDN
domains in Unicode, then lowercased), with the session's address key
(`address_key.py`). Rows written before the hashes were keyed hold its unkeyed SHA-256
(`keyed` false): every look-up asks for both forms, so they still block, until
`rekey_suppressions` converts those whose address is still known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.address_key import AddressKey, address_key_of
from newsletter.models import Subscriber, Suppression
from newsletter.subscribers.addresses import legacy_hash, stored_suppression_text, suppression_text

__all__ = [
    "SUPPRESSION_ERASED",
    "Rekeyed",
    "SuppressionHashes",
    "address_hashes",
    "is_suppressed",
    "key_hashes",
    "rekey_suppressions",
    "suppress",
]

# Suppression reasons. Only an erased address may subscribe again (its owner can prove
# the mailbox by confirming); bounces and complaints keep an address silent for good.
SUPPRESSION_ERASED = "erased"


class SuppressionHashes(NamedTuple):
    """The two forms a suppression of one address may have; `IN` them to find it."""

    keyed: str
    legacy: str


def hashes_of_text(key: AddressKey, text: str) -> SuppressionHashes:
    return SuppressionHashes(key.digest(text), legacy_hash(text))


def address_hashes(session: Session, email: str) -> SuppressionHashes:
    """The hashes of `email` as typed or reported (normalized here)."""
    return hashes_of_text(address_key_of(session), suppression_text(email))


def key_hashes(session: Session, key: str) -> SuppressionHashes:
    """The hashes of a key `parse_address` already normalized (no second validation)."""
    return hashes_of_text(address_key_of(session), key.lower())


def is_suppressed(session: Session, email: str) -> bool:
    found = select(Suppression.id).where(Suppression.email_hash.in_(address_hashes(session, email)))
    return session.scalar(found.limit(1)) is not None


def suppress(session: Session, *, email: str, reason: str, detail: str | None = None) -> bool:
    """Add `email` to the suppression list; False when it was there already."""
    if is_suppressed(session, email):
        return False
    keyed = address_hashes(session, email).keyed
    session.add(Suppression(email_hash=keyed, keyed=True, reason=reason, detail=detail))
    session.flush()
    return True


@dataclass(frozen=True)
class Rekeyed:
    rekeyed: int
    left: int  # unkeyed rows whose address is nowhere in the database (erased ones)


_SUPPRESSIONS: Table = Suppression.__table__  # type: ignore[assignment]
_REKEY = (
    update(_SUPPRESSIONS)
    .where(_SUPPRESSIONS.c.id == bindparam("row_id"))
    .values(email_hash=bindparam("keyed_hash"), keyed=True)
)


def rekey_suppressions(session: Session, *, chunk: int = 5000) -> Rekeyed:
    """Re-key the unkeyed suppressions whose address is still in `subscribers`.

    A bounced or complained subscriber keeps its row, so its address is known; an
    erased one's is not, and its unkeyed row stays (still blocking) until that address
    is seen again. One pass over the addresses, SHA-256 each (about a second per
    million), then one executemany; nothing to do when every row is keyed.
    """
    unkeyed = select(Suppression.email_hash, Suppression.id).where(Suppression.keyed.is_(False))
    legacy: dict[str, int] = dict(session.execute(unkeyed).all())
    if not legacy:
        return Rekeyed(rekeyed=0, left=0)
    key = address_key_of(session)
    found: dict[int, str] = {}
    emails = session.scalars(select(Subscriber.email).execution_options(yield_per=chunk))
    for email in emails:
        text = stored_suppression_text(email)
        row_id = legacy.get(legacy_hash(text))
        if row_id is not None:
            found[row_id] = key.digest(text)
    if found:
        # A keyed row for the same address may exist already: the unkeyed one then goes.
        wanted = list(found.values())
        present: set[str] = set()
        for start in range(0, len(wanted), chunk):  # under SQLite's limit of parameters
            part = wanted[start : start + chunk]
            present.update(
                session.scalars(
                    select(Suppression.email_hash).where(Suppression.email_hash.in_(part))
                )
            )
        doubles = [row_id for row_id, keyed in found.items() if keyed in present]
        if doubles:
            session.execute(delete(Suppression).where(Suppression.id.in_(doubles)))
        rows = [
            {"row_id": row_id, "keyed_hash": keyed}
            for row_id, keyed in found.items()
            if keyed not in present
        ]
        if rows:
            session.execute(_REKEY, rows)
    left = session.scalar(
        select(func.count()).select_from(Suppression).where(Suppression.keyed.is_(False))
    )
    return Rekeyed(rekeyed=len(found), left=left or 0)
