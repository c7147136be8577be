"""The web admin under /admin: login, dashboard, subscribers, audit trail.

Pages are in English (the admin face; residents' pages are Vietnamese). Every POST
carries the session's CSRF token; every page refuses an anonymous request with 401.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.accounts.audit import recent_audit, record_audit
from newsletter.accounts.officials import LoginThrottledError, authenticate
from newsletter.ops.dashboard import feeds_overview, recent_campaigns, subscriber_overview
from newsletter.web.admin_auth import (
    AdminDep,
    check_csrf,
    check_login_csrf,
    end_session,
    set_login_csrf,
    start_session,
)
from newsletter.web.admin_pages import client_ip, page
from newsletter.web.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/admin", include_in_schema=False)


def login_page(
    request: Request, settings: SettingsDep, *, error: str | None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", {"error": error, "csrf": token}, status_code=status_code)
    set_login_csrf(response, settings, token)
    return response


@router.get("/login")
def login_form(request: Request, settings: SettingsDep) -> Response:
    return login_page(request, settings, error=None)


@router.post("/login")
def login(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_login_csrf(request, csrf)
    ip = client_ip(request)
    try:
        user = authenticate(session, username=username, password=password)
    except LoginThrottledError as exc:
        record_audit(session, actor=username, action="login_throttled", ip=ip)
        message = f"Too many failed attempts. Try again in {exc.wait_seconds:.0f} seconds."
        return login_page(request, settings, error=message, status_code=429)
    if user is None:
        record_audit(session, actor=username, action="login_failed", ip=ip)
        return login_page(request, settings, error="Wrong username or password.", status_code=401)
    record_audit(session, actor=user.username, action="login", ip=ip)
    response = RedirectResponse("/admin/", status_code=303)
    start_session(response, settings, user)
    return response


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
        },
    )
