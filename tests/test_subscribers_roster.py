"""Admin subscriber management: import (active with consent, or pending), export, stats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.models import ConsentEvent, ConsentKind, Subscriber, SubscriberStatus
from newsletter.subscribers.roster import (
    export_csv,
    import_subscribers,
    read_csv,
    search_subscribers,
    subscriber_stats,
)
from newsletter.subscribers.suppression import suppress
from tests.conftest import TEST_SECRET
from tests.support.ledger import WorkerProcess, worker_env
from tests.support.smtp import SMTPServer

HOUR = dt.timedelta(hours=6)
CSV = (
    "email,name,categories\n"
    "an@example.vn,Nguyễn Văn An,tin-tuc\n"
    "binh@example.vn,,tin-tuc;thong-bao\n"
    "khong-hop-le,,\n"
    "chi@example.vn,,khong-co\n"
)


def test_import_with_consent_source_makes_active(session: Session) -> None:
    """With a consent source, valid rows become active with an `imported` consent event."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    add_category(session, slug="thong-bao", name="Thông báo")
    result = import_subscribers(
        session, rows=read_csv(CSV), consent_source="phiếu giấy, phường Hòa Bình", resend_after=HOUR
    )
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    assert [line for line, _ in result.rejected] == [4, 5]
    assert "unknown categories: khong-co" in result.rejected[1][1]
    assert result.to_confirm == []
    an = session.scalars(select(Subscriber).where(Subscriber.email == "an@example.vn")).one()
    assert an.status is SubscriberStatus.ACTIVE
    assert [c.slug for c in an.categories] == ["tin-tuc"]
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == an.id)).all()
    assert [e.kind for e in events] == [ConsentKind.IMPORTED]
    assert "phiếu giấy, phường Hòa Bình" in (events[0].detail or "")
    again = import_subscribers(session, rows=read_csv(CSV), consent_source="x", resend_after=HOUR)
    assert (again.created, again.unchanged) == (0, 2)


def test_import_without_consent_is_pending_and_asks(session: Session) -> None:
    """Without a consent source, rows become pending and each is due a confirmation."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    add_category(session, slug="thong-bao", name="Thông báo")
    result = import_subscribers(session, rows=read_csv(CSV), consent_source=None, resend_after=HOUR)
    assert result.created == 2
    assert sorted(email for _, email in result.to_confirm) == ["an@example.vn", "binh@example.vn"]
    statuses = set(session.scalars(select(Subscriber.status)))
    assert statuses == {SubscriberStatus.PENDING}


def test_import_never_reactivates_unsubscribed_or_suppressed(session: Session) -> None:
    """An old list cannot override an unsubscribe, a bounce or a complaint."""
    session.add(Subscriber(email="an@example.vn", status=SubscriberStatus.UNSUBSCRIBED))
    suppress(session, email="binh@example.vn", reason="hard_bounce")
    session.flush()
    rows = read_csv("email\nan@example.vn\nbinh@example.vn\n")
    result = import_subscribers(session, rows=rows, consent_source="x", resend_after=HOUR)
    assert result.created == 0
    assert [reason for _, reason in result.rejected] == [
        "address is unsubscribed; not reactivated",
        "address is suppressed (bounce, complaint)",
    ]


def test_export_streams_every_subscriber_and_defuses_formulas(session: Session) -> None:
    """Export writes every subscriber once, in id order; formula-like cells are quoted."""
    for i in range(5):
        session.add(
            Subscriber(email=f"nguoi{i}@example.vn", name="=HYPERLINK(1)" if i == 0 else None)
        )
    session.flush()
    text = "".join(export_csv(session, batch=2))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["email"] for r in rows] == [f"nguoi{i}@example.vn" for i in range(5)]
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_search_and_stats(session: Session) -> None:
    """Search finds by exact address or prefix; stats count statuses and suppressions."""
    session.add_all(
        [
            Subscriber(email="an@example.vn", status=SubscriberStatus.ACTIVE),
            Subscriber(email="anh@example.vn"),
            Subscriber(email="binh@example.vn", status=SubscriberStatus.BOUNCED),
        ]
    )
    suppress(session, email="binh@example.vn", reason="hard_bounce")
    session.flush()
    assert [s.email for s in search_subscribers(session, query="an@example.vn")] == [
        "an@example.vn"
    ]
    assert {s.email for s in search_subscribers(session, query="an")} == {
        "an@example.vn",
        "anh@example.vn",
    }
    assert search_subscribers(session, query="%") == []
    assert search_subscribers(session, query="an\x00") == []
    assert search_subscribers(session, query="an\udc80") == []
    stats = subscriber_stats(session)
    assert stats.by_status["active"] == 1
    assert stats.by_status["pending"] == 1
    assert stats.by_status["bounced"] == 1
    assert stats.suppressed == 1


def run_cli(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    full.update({"NEWSLETTER_SECRET_KEY": TEST_SECRET, **env})
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True, text=True, env=full, cwd=cwd, input=stdin, check=False, timeout=120,
    )  # fmt: skip


def test_cli_import_pending_sends_confirmations(
    database_url: str, tmp_path: Path, smtp_server: SMTPServer, settings_factory: type[Settings]
) -> None:
    """`subscribers import FILE` queues a confirmation per new resident; a worker mails it."""
    settings = settings_factory(database_url=database_url, smtp_url=smtp_server.url)
    env = worker_env(settings)
    assert run_cli("categories", "add", "tin-tuc", "Tin tức", env=env, cwd=tmp_path).returncode == 0
    assert (
        run_cli("categories", "add", "thong-bao", "Thông báo", env=env, cwd=tmp_path).returncode
        == 0
    )
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    result = run_cli("subscribers", "import", "list.csv", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"created": 2' in result.stdout
    assert '"confirmations_not_queued": 0' in result.stdout
    with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent"):
        received = smtp_server.wait_for(2, timeout=60)
    assert sorted(m.rcpt_tos[0] for m in received) == ["an@example.vn", "binh@example.vn"]
    stats = run_cli("subscribers", "stats", "--json", env=env, cwd=tmp_path)
    assert '"pending": 2' in stats.stdout
    exported = run_cli("subscribers", "export", env=env, cwd=tmp_path)
    assert (
        exported.stdout.splitlines()[0]
        == "email,name,status,categories,frequency,created_at,confirmed_at,source,areas"
    )
    assert len(exported.stdout.splitlines()) == 3


def test_cli_create_token_prints_once(database_url: str, tmp_path: Path) -> None:
    """`admin create-token NAME` prints a token that the API accepts; only a hash is stored."""
    from newsletter.accounts.api_tokens import find_api_token
    from newsletter.db import create_db_engine
    from newsletter.models import ApiToken
    from tests.support.keys import keyed_sessions

    result = run_cli(
        "admin", "create-token", "cms", env={"NEWSLETTER_DATABASE_URL": database_url}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) >= 32
    engine = create_db_engine(database_url)
    with keyed_sessions(engine).begin() as s:
        assert find_api_token(s, token=token) is not None
        stored = s.scalars(select(ApiToken.token_hash)).one()
        assert token not in stored
    engine.dispose()
