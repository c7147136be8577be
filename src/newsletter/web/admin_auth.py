"""Admin sessions: a signed HttpOnly SameSite=Strict cookie holding the user id and a
CSRF token; every admin form posts that token back and is refused without it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter.accounts.roles import Role, role_of
from newsletter.config import Settings
from newsletter.models import AdminUser
from newsletter.web.deps import RuntimeDep

SESSION_COOKIE = "nl_admin"
LOGIN_CSRF_COOKIE = "nl_login_csrf"
SESSION_MAX_AGE = 12 * 3600
CSRF_ERROR = "missing or invalid CSRF token; reload the page"


@dataclass(frozen=True)
class AdminContext:
    user_id: int
    username: str
    csrf: str
    role: Role = Role.VIEWER

    def can(self, role: Role) -> bool:
        """Whether this official's role includes `role` (templates show only what they may do)."""
        return self.role >= role


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="newsletter.admin-session")


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def start_session(response: Response, settings: Settings, user: AdminUser) -> None:
    value = _serializer(settings).dumps(
        {"uid": user.id, "sv": user.session_version, "csrf": secrets.token_urlsafe(24)}
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
        path="/admin",
    )


def end_session(
    response: Response, session: Session | None = None, user_id: int | None = None
) -> None:
    """Clear the cookie; with `session`, also end every session of `user_id` on the server
    (a copy of the cookie kept elsewhere stops working too)."""
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    if session is not None and user_id is not None:
        session.execute(
            update(AdminUser)
            .where(AdminUser.id == user_id)
            .values(session_version=AdminUser.session_version + 1)
        )


def read_session(request: Request, settings: Settings) -> tuple[int, int, str] | None:
    """(user id, session version, CSRF token) of a valid cookie, or None."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    version = data.get("sv")
    if not isinstance(version, int):
        return None  # a cookie from before session versions: log in again
    return data["uid"], version, str(data.get("csrf", ""))


def current_admin(request: Request, runtime: RuntimeDep) -> AdminContext:
    """The logged-in admin, or 401 (never a redirect loop, never a 500).

    Looked up in a short transaction of its own, so the route's session (and, on SQLite,
    the write lock) is not held open by the check.
    """
    found = read_session(request, runtime.settings)
    if found is None:
        raise HTTPException(status_code=401, detail="login required")
    with runtime.sessions.begin() as session:
        user = session.get(AdminUser, found[0])
        # A cookie issued before the user's last logout is dead, even within its 12 h;
        # so is every cookie of a disabled official.
        if user is None or user.session_version != found[1] or user.disabled_at is not None:
            raise HTTPException(status_code=401, detail="login required")
        return AdminContext(
            user_id=user.id, username=user.username, csrf=found[2], role=role_of(user.role)
        )


def require_role(role: Role) -> Callable[[AdminContext], AdminContext]:
    """A dependency: the logged-in official if their role includes `role`, else 403."""

    def check(admin: Annotated[AdminContext, Depends(current_admin)]) -> AdminContext:
        if not admin.can(role):
            raise HTTPException(
                status_code=403,
                detail=f"this needs the {role.label} role; you are {admin.role.label}. "
                "Ask an admin to change your role",
            )
        return admin

    return check


# Every admin route takes one of these; tests/test_roles_routes.py walks them all.
AdminDep = Annotated[AdminContext, Depends(current_admin)]  # any role: viewer and up
ViewerDep = AdminDep
EditorDep = Annotated[AdminContext, Depends(require_role(Role.EDITOR))]
ApproverDep = Annotated[AdminContext, Depends(require_role(Role.APPROVER))]
AdminRoleDep = Annotated[AdminContext, Depends(require_role(Role.ADMIN))]


def check_csrf(admin: AdminContext, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(admin.csrf, submitted):
        raise HTTPException(
            status_code=403, detail="missing or invalid CSRF token; reload the page"
        )


def set_login_csrf(response: Response, settings: Settings, token: str) -> None:
    """Double-submit token for the login form (there is no session to bind it to yet)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(settings),
        path="/admin",
    )


def check_login_csrf(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(
            status_code=403, detail="missing or invalid CSRF token; reload the page"
        )
