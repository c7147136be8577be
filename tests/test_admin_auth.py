"""Admin accounts and the web login: argon2, CSRF, growing delay, audit, 401 for anonymous."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.officials import (
    AdminUserError,
    LoginThrottledError,
    authenticate,
    create_admin_user,
    delay_after_failures,
)
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import AdminUser, AuditEvent
from newsletter.web import create_app
from tests.conftest import TEST_SECRET
from tests.support.webserver import serve as live_server

PASSWORD = "mật khẩu thật dài 2026"
NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def test_passwords_are_argon2_and_checked(session: Session) -> None:
    """A stored password is an argon2 hash; the right one logs in, a wrong one does not."""
    user = create_admin_user(session, username="canbo", password=PASSWORD)
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash
    assert authenticate(session, username="canbo", password=PASSWORD, now=NOW) is user
    assert authenticate(session, username="canbo", password="sai", now=NOW) is None
    assert authenticate(session, username="khong-co", password=PASSWORD, now=NOW) is None
    assert authenticate(session, username="can\x00bo", password=PASSWORD, now=NOW) is None
    with pytest.raises(AdminUserError, match="at least 12"):
        create_admin_user(session, username="ngan", password="short")
    with pytest.raises(AdminUserError, match="already exists"):
        create_admin_user(session, username="canbo", password=PASSWORD)


def test_failed_logins_grow_a_delay(session: Session) -> None:
    """After three failures each attempt must wait longer, even with the right password."""
    create_admin_user(session, username="canbo", password=PASSWORD)
    for i in range(3):
        assert (
            authenticate(
                session, username="canbo", password="sai", now=NOW + dt.timedelta(seconds=i)
            )
            is None
        )
    with pytest.raises(LoginThrottledError) as throttled:
        authenticate(
            session, username="canbo", password=PASSWORD, now=NOW + dt.timedelta(seconds=3)
        )
    assert throttled.value.wait_seconds > 0
    later = NOW + dt.timedelta(seconds=3 + delay_after_failures(3))
    assert authenticate(session, username="canbo", password=PASSWORD, now=later) is not None
    assert [delay_after_failures(n) for n in (0, 2, 3, 4, 5, 20)] == [0, 0, 2, 4, 8, 300]


def login_token(client: httpx.Client) -> str:
    page = client.get("/admin/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_web_login_flow(database_url: str, settings_factory: type[Settings]) -> None:
    """Anonymous → 401; login without CSRF → 403; wrong password → 401; right → dashboard."""
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    engine = create_db_engine(database_url)
    sessions = create_session_factory(engine)
    with sessions.begin() as s:
        create_admin_user(s, username="canbo", password=PASSWORD)
    with live_server(create_app(settings)) as client:
        assert client.get("/admin/").status_code == 401
        token = login_token(client)
        no_csrf = client.post("/admin/login", data={"username": "canbo", "password": PASSWORD})
        assert no_csrf.status_code == 403
        wrong = client.post(
            "/admin/login", data={"username": "canbo", "password": "sai", "csrf": token}
        )
        assert wrong.status_code == 401
        token = login_token(client)
        ok = client.post(
            "/admin/login", data={"username": "canbo", "password": PASSWORD, "csrf": token}
        )
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        dashboard = client.get("/admin/")
        assert dashboard.status_code == 200
        assert "Dashboard" in dashboard.text
        # Logging out needs the CSRF token too.
        assert client.post("/admin/logout", data={}).status_code == 403
    with sessions.begin() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    engine.dispose()
    assert actions == ["login_failed", "login"]


def test_forged_session_cookie_is_refused(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """A session cookie signed with another key opens nothing."""
    from itsdangerous import URLSafeTimedSerializer

    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    forged = URLSafeTimedSerializer(
        "attacker-key-that-is-long-enough-xxxxxxxx", salt="newsletter.admin-session"
    ).dumps({"uid": 1, "csrf": "x"})
    with live_server(create_app(settings)) as client:
        client.cookies.set("nl_admin", forged, path="/admin")
        assert client.get("/admin/").status_code == 401


def test_cli_create_user_reads_stdin(database_url: str, tmp_path: Path) -> None:
    """`admin create-user NAME` takes the password from stdin and stores only its hash."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(NEWSLETTER_DATABASE_URL=database_url, NEWSLETTER_SECRET_KEY=TEST_SECRET)
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "admin", "create-user", "truongphong"],
        input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=tmp_path,
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as s:
        user = s.scalars(select(AdminUser)).one()
        assert user.username == "truongphong"
        assert authenticate(s, username="truongphong", password=PASSWORD) is not None
    engine.dispose()


def test_logout_ends_the_session_on_the_server(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """A copy of the session cookie taken before logout gets 401 afterwards, and so does
    any other session of that official; logging in again works."""
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as s:
        create_admin_user(s, username="canbo", password=PASSWORD)
    engine.dispose()
    with live_server(create_app(settings)) as client:
        ok = client.post(
            "/admin/login",
            data={"username": "canbo", "password": PASSWORD, "csrf": login_token(client)},
        )
        assert ok.status_code == 303
        stolen = client.cookies.get("nl_admin", path="/admin")
        assert stolen
        page = client.get("/admin/")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        out = client.post("/admin/logout", data={"csrf": csrf.group(1)})
        assert out.status_code == 303
        client.cookies.set("nl_admin", stolen, path="/admin")
        assert client.get("/admin/").status_code == 401
        client.cookies.clear()
        again = client.post(
            "/admin/login",
            data={"username": "canbo", "password": PASSWORD, "csrf": login_token(client)},
        )
        assert again.status_code == 303
        assert client.get("/admin/").status_code == 200
