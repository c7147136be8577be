"""Admin accounts and the web login: argon2, CSRF, growing delay, audit, 401 for anonymous."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.accounts.login_throttle import LoginThrottle, MemoryFailureCounts
from newsletter.accounts.officials import AdminUserError, authenticate, create_admin_user
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import AdminUser, AuditEvent
from newsletter.web import create_app
from tests.conftest import TEST_SECRET
from tests.support.webserver import serve as live_server

PASSWORD = "mật khẩu thật dài 2026"


def test_passwords_are_argon2_and_checked(session: Session) -> None:
    """A stored password is an argon2 hash; the right one logs in, a wrong one does not."""
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    throttle = LoginThrottle(counts=MemoryFailureCounts(), secret=b"k")
    user = create_admin_user(session, username="canbo", password=PASSWORD)
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash

    def check(username: str, password: str) -> AdminUser | None:
        return authenticate(
            sessions, throttle, username=username, password=password, client="198.51.100.1"
        )

    logged_in = check("canbo", PASSWORD)
    assert logged_in is not None
    assert logged_in.id == user.id
    assert check("canbo", "sai") is None
    assert check("khong-co", PASSWORD) is None
    assert check("can\x00bo", PASSWORD) is None
    with pytest.raises(AdminUserError, match="at least 12"):
        create_admin_user(session, username="ngan", password="short")
    with pytest.raises(AdminUserError, match="already exists"):
        create_admin_user(session, username="canbo", password=PASSWORD)


def login_token(client: httpx.Client) -> str:
    page = client.get("/admin/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_web_login_flow(database_url: str, settings_factory: type[Settings]) -> None:
    """Anonymous → the login page; without CSRF → 403; wrong password → 401; right → dashboard."""
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    engine = create_db_engine(database_url)
    sessions = create_session_factory(engine)
    with sessions.begin() as s:
        create_admin_user(s, username="canbo", password=PASSWORD)
    with live_server(create_app(settings)) as client:
        assert client.get("/admin/").headers["location"] == "/admin/login?next=/admin/"
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
        assert client.get("/admin/").headers["location"].startswith("/admin/login?")


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
    sessions = create_session_factory(engine)
    with sessions.begin() as s:
        assert s.scalars(select(AdminUser.username)).all() == ["truongphong"]
    throttle = LoginThrottle(counts=MemoryFailureCounts(), secret=b"k")
    user = authenticate(
        sessions, throttle, username="truongphong", password=PASSWORD, client="127.0.0.1"
    )
    assert user is not None
    engine.dispose()


def test_logout_ends_the_session_on_the_server(
    database_url: str, settings_factory: type[Settings]
) -> None:
    """A copy of the session cookie taken before logout is sent to the login form (a page)
    or refused with 401 (an action), as is any other session of that official; logging in
    again works."""
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
        refused = client.get("/admin/")
        assert refused.status_code == 303, "a dead session is sent to the login form"
        assert refused.headers["location"].startswith("/admin/login")
        assert client.post("/admin/logout", data={"csrf": csrf.group(1)}).status_code == 401
        client.cookies.clear()
        again = client.post(
            "/admin/login",
            data={"username": "canbo", "password": PASSWORD, "csrf": login_token(client)},
        )
        assert again.status_code == 303
        assert client.get("/admin/").status_code == 200
