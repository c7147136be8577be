"""Log an admin in over real HTTP and read the session's CSRF token from a page."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import Engine

from newsletter.accounts.officials import create_admin_user
from newsletter.accounts.roles import Role
from newsletter.db import create_session_factory

ADMIN_PASSWORD = "mật khẩu quản trị 2026"


def create_admin(engine: Engine, username: str = "canbo", role: Role = Role.ADMIN) -> None:
    with create_session_factory(engine).begin() as session:
        create_admin_user(session, username=username, password=ADMIN_PASSWORD, role=role)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def log_in(client: httpx.Client, username: str = "canbo") -> str:
    """Log in; returns the session's CSRF token for later form posts."""
    token = csrf_from(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"username": username, "password": ADMIN_PASSWORD, "csrf": token}
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/admin/").text)
