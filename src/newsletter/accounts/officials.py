"""Admin accounts: argon2 hashes and a growing delay after failed logins."""

from __future__ import annotations

import datetime as dt
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import AdminUser

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{2,100}$")
MIN_PASSWORD_LENGTH = 12
FREE_FAILURES = 3  # failures before the delay starts
MAX_DELAY_SECONDS = 300

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


def create_admin_user(session: Session, *, username: str, password: str) -> AdminUser:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminUserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    check_new_username(session, username=username)
    user = AdminUser(username=username, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def delay_after_failures(failures: int) -> float:
    """Seconds a user must wait before the next attempt: 0, then 2, 4, 8 … up to 5 minutes."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(2 ** (failures - FREE_FAILURES + 1), MAX_DELAY_SECONDS))


def seconds_until_allowed(user: AdminUser, now: dt.datetime) -> float:
    if user.last_failed_login_at is None:
        return 0.0
    ready = user.last_failed_login_at + dt.timedelta(
        seconds=delay_after_failures(user.failed_logins)
    )
    return max((ready - now).total_seconds(), 0.0)


class LoginThrottledError(Exception):
    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"too many failed logins; try again in {wait_seconds:.0f} s")
        self.wait_seconds = wait_seconds


def authenticate(
    session: Session, *, username: str, password: str, now: dt.datetime | None = None
) -> AdminUser | None:
    """The user when the password matches; None otherwise. Raises LoginThrottledError while the
    account's delay runs, without even checking the password (so guessing gains nothing).
    """
    now = now or dt.datetime.now(dt.UTC)
    valid_name = USERNAME_PATTERN.fullmatch(username) is not None
    user = (
        session.scalars(select(AdminUser).where(AdminUser.username == username)).first()
        if valid_name  # a name no account can have (NUL, say) is never sent to the database
        else None
    )
    if user is None:
        # Spend the same time as a real check, so timing does not reveal usernames.
        _hasher.hash(password)
        return None
    wait = seconds_until_allowed(user, now)
    if wait > 0:
        raise LoginThrottledError(wait)
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        user.last_failed_login_at = now
        return None
    user.failed_logins = 0
    user.last_failed_login_at = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
