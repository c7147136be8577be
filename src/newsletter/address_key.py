"""The key that hashes suppressed and erased addresses, and the guard against changing it.

A suppression is kept as a hash of the address, so that a copy of the database names
nobody. An unkeyed hash would not do that: anyone can hash a guessed address and look
it up. The hash is HMAC-SHA256 under a key of its own, derived from the secret with a
purpose label (`HMAC(secret, "newsletter.suppression-v1")`), so it is useless without
the secret and never the signing key itself (docs/security.md, "Suppression and
erase-audit hashes").

The key travels with the session: `db.create_session_factory` puts it in every
session's `info`, and `address_key_of(session)` reads it. A session built without it
refuses to hash, rather than hash under some other key and miss every suppression.

Changing the key would make every keyed suppression miss, that is silently mail every
suppressed address again. `key_fingerprints` keeps a short keyed fingerprint of the key
the database was written with; `key_problem` compares it with the running key, and the
processes refuse to start when they differ (`cli/keys.py`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsletter.models import KeyFingerprint

if TYPE_CHECKING:
    from newsletter.config import Settings

SUPPRESSION_PURPOSE = "suppression"
_LABEL = b"newsletter.suppression-v1"
# Hashed texts are lower-cased addresses; none starts with NUL, so this names no address.
_FINGERPRINT_TEXT = b"\x00fingerprint"
SESSION_INFO = "newsletter.address_key"


class AddressKey:
    """HMAC-SHA256 of address texts under one key; its hex digests fit `email_hash`."""

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        # Keyed once: each digest then copies the primed state instead of re-keying.
        self._base = hmac.new(key, digestmod=hashlib.sha256)

    @classmethod
    def from_secret(cls, secret: str) -> AddressKey:
        return cls(hmac.new(secret.encode("utf-8"), _LABEL, hashlib.sha256).digest())

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressKey:
        """The key of NEWSLETTER_SUPPRESSION_SECRET when set, else of NEWSLETTER_SECRET_KEY."""
        return cls.from_secret(settings.suppression_secret or settings.secret_key)

    def digest(self, text: str) -> str:
        h = self._base.copy()
        h.update(text.encode("utf-8"))
        return h.hexdigest()

    @property
    def fingerprint(self) -> str:
        """64 bits that tell two keys apart and reveal nothing of either."""
        h = self._base.copy()
        h.update(_FINGERPRINT_TEXT)
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"AddressKey(fingerprint={self.fingerprint!r})"


class NoAddressKeyError(RuntimeError):
    """A session was asked to hash an address but carries no key."""


def address_key_of(session: Session) -> AddressKey:
    key = session.info.get(SESSION_INFO)
    if not isinstance(key, AddressKey):
        raise NoAddressKeyError(
            "this session carries no address key: make its factory with "
            "db.create_session_factory(engine, address_key=AddressKey.from_settings(settings)) "
            "or use runtime.build_runtime(settings)"
        )
    return key


def recorded_fingerprint(session: Session) -> str | None:
    return session.scalar(
        select(KeyFingerprint.fingerprint).where(KeyFingerprint.purpose == SUPPRESSION_PURPOSE)
    )


def record_fingerprint(session: Session, key: AddressKey, *, replace: bool = False) -> None:
    """Remember which key the suppressions are written with (kept if one is recorded)."""
    dialect_insert = (
        postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    statement = dialect_insert(KeyFingerprint).values(
        purpose=SUPPRESSION_PURPOSE, fingerprint=key.fingerprint
    )
    if replace:
        statement = statement.on_conflict_do_update(
            index_elements=[KeyFingerprint.purpose],
            set_={"fingerprint": key.fingerprint, "recorded_at": statement.excluded.recorded_at},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[KeyFingerprint.purpose])
    session.execute(statement)


KEY_CHANGED = (
    "the suppression list was written with another key than this one: "
    "NEWSLETTER_SECRET_KEY (or NEWSLETTER_SUPPRESSION_SECRET) changed, so every "
    "suppressed, bounced and erased address would silently be mailed again. "
    "Put the previous value back; to rotate the signing key, keep the previous value "
    "as NEWSLETTER_SUPPRESSION_SECRET and set the new NEWSLETTER_SECRET_KEY. Only if the "
    "previous value is lost for good: `newsletter db rekey --accept-new-key` "
    "(docs/security.md, 'Rotating the secret key')"
)


def key_problem(session: Session, key: AddressKey) -> str | None:
    """Why `key` must not write or read this database's suppressions, or None.

    The first process to run records the key's fingerprint; later ones must match it.
    """
    recorded = recorded_fingerprint(session)
    if recorded is None:
        record_fingerprint(session, key)
        recorded = recorded_fingerprint(session)
    if recorded is not None and not hmac.compare_digest(recorded, key.fingerprint):
        return KEY_CHANGED
    return None
