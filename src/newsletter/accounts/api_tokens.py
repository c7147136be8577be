"""API tokens: bearer secrets for the CMS and scripts, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.roles import ALL_SCOPES, parse_scopes, stored_scopes
from newsletter.models import ApiToken, utcnow

TOKEN_BYTES = 32


def hash_api_token(token: str) -> str:
    """The stored form of a token: SHA-256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(session: Session, *, name: str, scopes: Iterable[str] = ALL_SCOPES) -> str:
    """Create a token named `name` with `scopes` (accounts/roles.py) and return it; only
    its hash is kept, so show it once."""
    name = name.strip()
    if not name:
        raise ValueError("an API token needs a non-empty name")
    chosen = parse_scopes(scopes)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(ApiToken(name=name, token_hash=hash_api_token(token), scopes=stored_scopes(chosen)))
    session.flush()
    return token


def find_api_token(session: Session, *, token: str) -> ApiToken | None:
    """The active (not revoked) token row for `token`, stamped as used now; else None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    return row


def list_api_tokens(session: Session) -> list[ApiToken]:
    """Every token, oldest first, revoked ones included (the secret itself is never kept)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_api_token(session: Session, *, token_id: int) -> ApiToken:
    """Revoke token `token_id` now; LookupError if there is none. Revoking twice is a no-op."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise LookupError(f"no API token #{token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
