"""Admin accounts: argon2 hashes, and logins checked outside any transaction."""

from __future__ import annotations

import datetime as dt
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.accounts.login_throttle import LoginThrottle
from newsletter.accounts.roles import DEFAULT_ROLE, Role
from newsletter.db import SessionFactory
from newsletter.models import AdminUser

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{2,100}$")
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()


class AdminUserError(ValueError):
    """The account could not be created; the message says why."""


def check_new_username(session: Session, *, username: str) -> None:
    """AdminUserError when `username` is malformed or taken (the CLI asks before the password)."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise AdminUserError(
            "username must be 2-100 characters: ASCII letters, digits, dot, dash, underscore"
        )
    if session.scalar(select(AdminUser.id).where(AdminUser.username == username)) is not None:
        raise AdminUserError(f"user {username!r} already exists")


def create_admin_user(
    session: Session, *, username: str, password: str, role: Role = DEFAULT_ROLE
) -> AdminUser:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminUserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    check_new_username(session, username=username)
    user = AdminUser(username=username, password_hash=_hasher.hash(password), role=role.label)
    session.add(user)
    session.flush()
    return user


class LoginThrottledError(Exception):
    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"too many failed logins; try again in {wait_seconds:.0f} s")
        self.wait_seconds = wait_seconds


# Verified against when the name is unknown, so an unknown name costs the same argon2 run
# as a known one and timing does not tell them apart.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def authenticate(
    sessions: SessionFactory,
    throttle: LoginThrottle,
    *,
    username: str,
    password: str,
    client: str,
    now: dt.datetime | None = None,
) -> AdminUser | None:
    """The user when the password matches; None otherwise. Raises LoginThrottledError,
    before the password is checked, when `client` or (for a client that has failed)
    the name has failed too often.

    Each database step is a short transaction of its own and the argon2 run (~100 ms)
    happens between them, holding no lock: on SQLite a transaction holds the database's
    write lock, and a login must not stall every subscribe for that long.
    """
    now = now or dt.datetime.now(dt.UTC)
    wait = throttle.wait_seconds(client=client, username=username)
    if wait > 0:
        raise LoginThrottledError(wait)
    found: tuple[int, str] | None = None
    if USERNAME_PATTERN.fullmatch(username):  # a name no account can have never reaches SQL
        with sessions.begin() as session:
            row = session.execute(
                select(AdminUser.id, AdminUser.password_hash).where(
                    AdminUser.username == username, AdminUser.disabled_at.is_(None)
                )
            ).first()
            # A disabled official is answered like an unknown name (same argon2 run).
            found = (row.id, row.password_hash) if row is not None else None
    matches = _verify(found[1] if found else _DUMMY_HASH, password)
    if found is None or not matches:
        throttle.failed(client=client, username=username)
        if found is not None:
            with sessions.begin() as session:
                count_failure(session, user_id=found[0], now=now)
        return None
    throttle.succeeded(client=client, username=username)
    new_hash = _hasher.hash(password) if _hasher.check_needs_rehash(found[1]) else None
    with sessions.begin() as session:
        user = session.get(AdminUser, found[0])
        if user is None:  # deleted while we checked
            return None
        user.failed_logins = 0
        user.last_failed_login_at = None
        user.last_login_at = now
        if new_hash is not None:
            user.password_hash = new_hash
        session.flush()
        session.expunge(user)
        return user


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def count_failure(session: Session, *, user_id: int, now: dt.datetime) -> int:
    """Add one failed login to the user's record in one statement; the new count.

    `user.failed_logins += 1` on a loaded row lost updates when guesses ran in parallel
    (each read the same count); the database adds it here, row-locked.
    """
    count = session.execute(
        update(AdminUser)
        .where(AdminUser.id == user_id)
        .values(failed_logins=AdminUser.failed_logins + 1, last_failed_login_at=now)
        .returning(AdminUser.failed_logins)
    ).scalar_one()
    return int(count)
