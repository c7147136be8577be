"""Login throttling: per client and per name alike, counted exactly, never against a clean
client's right password, and the password check holds no database lock."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from newsletter.accounts import officials
from newsletter.accounts.login_throttle import (
    CLIENT_FAILURES,
    NAME_FAILURES,
    LoginThrottle,
    MemoryFailureCounts,
    RedisFailureCounts,
)
from newsletter.accounts.officials import authenticate, create_admin_user
from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import AdminUser, Subscriber
from newsletter.web import create_app
from tests.support.webserver import serve as live_server

PASSWORD = "mật khẩu thật dài 2026"


@pytest.fixture
def site(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[httpx.Client]:
    """The app over real HTTP with one official, `canbo`."""
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as session:
        create_admin_user(session, username="canbo", password=PASSWORD)
    engine.dispose()
    settings = settings_factory(database_url=database_url, public_url="http://127.0.0.1")
    with live_server(create_app(settings)) as client:
        yield client


def attempt(client: httpx.Client, username: str, password: str, *, ip: str) -> int:
    """One login from `ip` (uvicorn takes X-Forwarded-For from its loopback proxy)."""
    headers = {"X-Forwarded-For": ip}
    form = client.get("/admin/login", headers=headers)
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match, form.text
    answer = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf": match.group(1)},
        headers=headers,
    )
    client.cookies.clear()
    return answer.status_code


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_guesses_never_keep_the_official_out(site: httpx.Client) -> None:
    """Strangers' wrong guesses at a name, however many, never refuse the right password
    from a client that has not failed."""
    for i in range(3 * NAME_FAILURES):
        attempt(site, "canbo", "sai", ip=f"203.0.113.{i % 3}")
    assert attempt(site, "canbo", PASSWORD, ip="198.51.100.7") == 303


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_known_and_unknown_names_get_the_same_answers(site: httpx.Client) -> None:
    """The same run of wrong guesses gives the same statuses for an existing name and for
    a name no one has, so the answers do not tell which names exist."""
    rounds = CLIENT_FAILURES + 2
    known = [attempt(site, "canbo", "sai", ip="203.0.113.10") for _ in range(rounds)]
    unknown = [attempt(site, "khong-ai", "sai", ip="203.0.113.11") for _ in range(rounds)]
    assert known == unknown
    assert 429 in known


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_failing_client_is_refused_before_any_password_check(
    site: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CLIENT_FAILURES wrong guesses a client gets 429 for any name, without an argon2
    run, and a name guessed at is refused to that failing client only."""
    for _ in range(CLIENT_FAILURES):
        assert attempt(site, f"ten-{_}", "sai", ip="203.0.113.20") == 401
    verified: list[str] = []
    real = officials._hasher

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            verified.append("x")
            return real.verify(hash, password)

    monkeypatch.setattr(officials, "_hasher", Counting())
    assert attempt(site, "canbo", PASSWORD, ip="203.0.113.20") == 429
    assert verified == []
    # Another client that failed once meets the name's limit after NAME_FAILURES guesses.
    for _ in range(NAME_FAILURES):
        attempt(site, "canbo", "sai", ip=f"198.51.100.{_}")
    assert attempt(site, "canbo", PASSWORD, ip="198.51.100.0") == 429


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_parallel_wrong_guesses_count_exactly_on_postgresql(database_url: str) -> None:
    """Sixteen wrong guesses in parallel add exactly sixteen to the user's failed logins."""
    engine = create_db_engine(database_url)
    sessions = create_session_factory(engine)
    with sessions.begin() as session:
        user_id = create_admin_user(session, username="canbo", password=PASSWORD).id
    throttle = LoginThrottle(counts=MemoryFailureCounts(), secret=b"k", name_failures=100)

    def guess(i: int) -> AdminUser | None:
        return authenticate(
            sessions, throttle, username="canbo", password=f"sai {i}", client=f"203.0.113.{i}"
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(guess, range(16))) == [None] * 16
    with sessions.begin() as session:
        count = session.scalar(select(AdminUser.failed_logins).where(AdminUser.id == user_id))
    engine.dispose()
    assert count == 16


@pytest.fixture(params=["memory", "redis"])
def counts(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The in-process counts, or the counts on the real Redis."""
    if request.param == "memory":
        made: Any = MemoryFailureCounts()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisFailureCounts(url, prefix=request.getfixturevalue("redis_prefix"))
    yield made
    made.close()


def test_failures_are_counted_exactly_in_parallel(counts: Any) -> None:
    """Two hundred failures added from eight threads count two hundred, in memory and Redis."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: counts.add("client:203.0.113.9"), range(200)))
    assert counts.get("client:203.0.113.9") == 200
    counts.clear("client:203.0.113.9")
    assert counts.get("client:203.0.113.9") == 0


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_login_does_not_hold_the_sqlite_write_lock_while_hashing(
    site: httpx.Client, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """While a login's password check runs, a resident's subscribe still writes and answers:
    the check holds no transaction, so the SQLite write lock is free."""
    checking, written = threading.Event(), threading.Event()
    real = officials._hasher

    class Slow(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checking.set()
            written.wait(20)  # the check lasts until the subscribe has been stored
            return real.verify(hash, password)

    monkeypatch.setattr(officials, "_hasher", Slow())
    login_done = threading.Event()

    def log_in() -> None:
        with httpx.Client(base_url=site.base_url, timeout=60) as other:
            attempt(other, "canbo", PASSWORD, ip="198.51.100.30")
        login_done.set()

    thread = threading.Thread(target=log_in)
    thread.start()
    try:
        assert checking.wait(20)
        answer = site.post("/subscribe", json={"email": "dan@example.vn"})
        still_checking = not login_done.is_set()
    finally:
        written.set()
        thread.join(60)
    assert answer.status_code == 202
    assert still_checking  # the subscribe did not wait for the login to finish
    engine = create_db_engine(database_url)
    with create_session_factory(engine).begin() as session:
        assert session.scalars(select(Subscriber.email)).all() == ["dan@example.vn"]
    engine.dispose()
