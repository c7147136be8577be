"""The web admin under /admin: login, dashboard, subscribers, audit trail.

Pages are in English (the admin face; residents' pages are Vietnamese). Every POST
carries the session's CSRF token; an anonymous browser is sent to the login page and
comes back where it was going (admin_errors.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.accounts.audit import recent_audit, record_audit
from newsletter.accounts.login_throttle import LoginThrottle
from newsletter.accounts.officials import LoginThrottledError, authenticate
from newsletter.ops.dashboard import feeds_overview, recent_campaigns, subscriber_overview
from newsletter.runtime import Runtime
from newsletter.subscribers.ip_limit import client_key
from newsletter.web.admin_approval import dashboard_context
from newsletter.web.admin_auth import (
    AdminDep,
    check_csrf,
    check_login_csrf,
    end_session,
    set_login_csrf,
    start_session,
)
from newsletter.web.admin_errors import safe_next
from newsletter.web.admin_pages import client_ip, page
from newsletter.web.deps import RuntimeDep, SessionDep, SettingsDep

router = APIRouter(prefix="/admin", include_in_schema=False)


def login_page(
    request: Request,
    settings: SettingsDep,
    *,
    error: str | None,
    next_path: str = "",
    status_code: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    context = {"error": error, "csrf": token, "next": safe_next(next_path)}
    response = page(request, "login.html", context, status_code=status_code)
    set_login_csrf(response, settings, token)
    return response


@router.get("/login")
def login_form(
    request: Request, settings: SettingsDep, next: Annotated[str, Query(max_length=2000)] = ""
) -> Response:
    return login_page(request, settings, error=None, next_path=next)


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """No request-wide session here: authenticate keeps the password check out of every
    transaction, and each audit row is a short transaction of its own."""
    check_login_csrf(request, csrf)
    ip = client_ip(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    try:
        user = authenticate(
            runtime.sessions,
            throttle,
            username=username,
            password=password,
            client=client_key(ip or "unknown"),
        )
    except LoginThrottledError as exc:
        _audit(runtime, actor=username, action="login_throttled", ip=ip)
        message = f"Too many failed attempts. Try again in {exc.wait_seconds:.0f} seconds."
        return login_page(request, settings, error=message, next_path=next, status_code=429)
    if user is None:
        _audit(runtime, actor=username, action="login_failed", ip=ip)
        return login_page(
            request, settings, error="Wrong username or password.", next_path=next, status_code=401
        )
    _audit(runtime, actor=user.username, action="login", ip=ip)
    response = RedirectResponse(safe_next(next), status_code=303)
    start_session(response, settings, user)
    return response


def _audit(runtime: Runtime, *, actor: str, action: str, ip: str | None) -> None:
    with runtime.sessions.begin() as session:
        record_audit(session, actor=actor, action=action, ip=ip)


@router.post("/logout")
def logout(
    admin: AdminDep, session: SessionDep, request: Request, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(admin, csrf)
    record_audit(session, actor=admin.username, action="logout", ip=client_ip(request))
    response = RedirectResponse("/admin/login", status_code=303)
    end_session(response, session, admin.user_id)
    return response


@router.get("/")
def dashboard(request: Request, admin: AdminDep, session: SessionDep) -> HTMLResponse:
    now = dt.datetime.now(dt.UTC)
    return page(
        request,
        "dashboard.html",
        {
            "admin": admin,
            "overview": subscriber_overview(session, now=now),
            "campaigns": recent_campaigns(session),
            "feeds": feeds_overview(session),
            "audit": recent_audit(session, limit=30),
            **dashboard_context(session, request.app.state.settings),
        },
    )
