"""Officials, API tokens and the audit trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.models.base import Base, BigId, utcnow


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[dt.datetime | None]
    # Carried in the session cookie; logging out adds one, so every cookie issued before
    # is refused from then on (a stolen cookie does not outlive the logout).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # viewer | editor | approver | admin (accounts/roles.py); each includes the ones before.
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    # A disabled official can no longer log in, and their open sessions stop working.
    disabled_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"AdminUser(id={self.id!r}, username={self.username!r})"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # Space-separated scopes (accounts/roles.py); tokens made before scopes had them all.
    scopes: Mapped[str] = mapped_column(
        String(200),
        default="read articles:write bulletins:draft bulletins:send",
        server_default="read articles:write bulletins:draft bulletins:send",
    )

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id!r}, name={self.name!r})"


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)
    ip: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!r}, action={self.action!r})"
