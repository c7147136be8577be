"""Admin subscriber pages over real HTTP: refuse anonymous, enforce CSRF, audit every action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from newsletter.config import Settings
from newsletter.db import create_db_engine
from newsletter.models import AuditEvent, ConsentEvent, ConsentKind, Subscriber, SubscriberStatus
from newsletter.subscribers.addresses import legacy_hash
from newsletter.subscribers.suppression import is_suppressed
from newsletter.web import create_app
from tests.support.admin import create_admin, log_in
from tests.support.keys import TEST_ADDRESS_KEY, keyed_sessions
from tests.support.ledger import WorkerProcess
from tests.support.smtp import SMTPServer
from tests.support.webserver import serve


@pytest.fixture
def engine_for(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(
    database_url: str, settings_factory: type[Settings], smtp_server: SMTPServer
) -> Settings:
    return settings_factory(
        database_url=database_url, public_url="http://127.0.0.1", smtp_url=smtp_server.url
    )


@pytest.fixture
def client(settings: Settings, engine_for: Engine) -> Iterator[httpx.Client]:
    create_admin(engine_for)
    with serve(create_app(settings)) as c:
        yield c


def add_subscriber(engine: Engine, email: str) -> int:
    with keyed_sessions(engine).begin() as s:
        sub = Subscriber(email=email, status=SubscriberStatus.ACTIVE)
        s.add(sub)
        s.flush()
        s.add(ConsentEvent(subscriber_id=sub.id, kind=ConsentKind.CONFIRMED, ip="203.0.113.9"))
        return sub.id


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/"),
        ("GET", "/admin/subscribers"),
        ("GET", "/admin/subscribers/1"),
        ("GET", "/admin/subscribers/export.csv"),
        ("POST", "/admin/subscribers/1/erase"),
        ("POST", "/admin/subscribers/import"),
        ("POST", "/admin/logout"),
    ],
)
def test_anonymous_is_refused(client: httpx.Client, method: str, path: str) -> None:
    """Every admin page sends a visitor without a session to the login page (and back
    after it); every admin action refuses them with a 401 page that links to it."""
    response = client.request(method, path)
    if method == "GET":
        assert response.status_code == 303
        assert response.headers["location"] == f"/admin/login?next={path}"
    else:
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/html")
        assert 'href="/admin/login?next=/admin/"' in response.text


def test_search_detail_erase(client: httpx.Client, engine_for: Engine) -> None:
    """An admin finds a subscriber, sees consent history, and erases them with CSRF; the
    audit trail names the keyed hash only, which no one without the secret can recompute."""
    sub_id = add_subscriber(engine_for, "an@example.vn")
    csrf = log_in(client)
    found = client.get("/admin/subscribers", params={"q": "an@example.vn"})
    assert f'href="/admin/subscribers/{sub_id}"' in found.text
    detail = client.get(f"/admin/subscribers/{sub_id}")
    assert "203.0.113.9" in detail.text
    assert "confirmed" in detail.text
    assert client.post(f"/admin/subscribers/{sub_id}/erase", data={}).status_code == 403
    erased = client.post(f"/admin/subscribers/{sub_id}/erase", data={"csrf": csrf})
    assert erased.status_code == 303
    assert client.get(f"/admin/subscribers/{sub_id}").status_code == 404
    with keyed_sessions(engine_for).begin() as s:
        assert s.get(Subscriber, sub_id) is None
        assert is_suppressed(s, "an@example.vn")
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        targets = s.scalars(select(AuditEvent.target).order_by(AuditEvent.id)).all()
    assert actions == ["login", "subscriber.erase"]
    assert "an@example.vn" not in " ".join(t or "" for t in targets)
    assert targets[-1] == TEST_ADDRESS_KEY.digest("an@example.vn")
    assert targets[-1] != legacy_hash("an@example.vn")


def test_export_and_import(
    client: httpx.Client,
    engine_for: Engine,
    smtp_server: SMTPServer,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Export is a CSV download; an upload without consent source mails confirmations."""
    add_subscriber(engine_for, "an@example.vn")
    csrf = log_in(client)
    exported = client.get("/admin/subscribers/export.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "an@example.vn,,active" in exported.text
    upload = {"file": ("ds.csv", b"email\nbinh@example.vn\nkhong-hop-le\n", "text/csv")}
    assert client.post("/admin/subscribers/import", files=upload).status_code == 403
    imported = client.post("/admin/subscribers/import", files=upload, data={"csrf": csrf})
    assert imported.status_code == 200
    assert "1 created" in imported.text
    assert "line 3" in imported.text
    with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent"):
        mail = smtp_server.wait_for(1, timeout=60)
    assert mail[0].rcpt_tos == ["binh@example.vn"]
    with keyed_sessions(engine_for).begin() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["login", "subscribers.export", "subscribers.import"]
