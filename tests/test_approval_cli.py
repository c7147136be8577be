"""Roles, scopes, approval and schedules from the command line, and a scheduled bulletin
started by the beat task in a real worker and delivered to a real SMTP server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from newsletter.config import Settings
from newsletter.db import create_db_engine, create_session_factory
from newsletter.models import AdminUser, ApiToken, AuditEvent, Campaign, CampaignStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import START_DUE_BULLETINS, create_producer
from tests.support.ledger import WorkerProcess, add_subscribers, wait_until, worker_env
from tests.support.smtp import SMTPServer

PASSWORD = "mật khẩu đủ dài 2026"


def newsletter(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        input=stdin, env=worker_env(settings), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def settings(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Settings:
    return settings_factory(
        database_url=database_url, smtp_url=smtp_server.url, approval_threshold=1
    )


def test_create_user_with_a_role_and_tokens_with_scopes(settings: Settings) -> None:
    """--role sets the official's role (admin when omitted); --scope the token's scopes
    (all when omitted); an unknown role or scope is refused naming the choices."""
    assert newsletter(settings, "admin", "create-user", "bientap", "--role", "editor",
                      stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
    assert newsletter(settings, "admin", "create-user", "cu", stdin=PASSWORD + "\n").returncode == 0
    bad = newsletter(settings, "admin", "create-user", "x1", "--role", "boss", stdin=PASSWORD)
    assert bad.returncode == 1
    assert "unknown role 'boss': choose one of viewer, editor, approver, admin" in bad.stderr
    assert newsletter(settings, "admin", "create-token", "cms", "--scope", "read",
                      "--scope", "articles:write").returncode == 0  # fmt: skip
    assert newsletter(settings, "admin", "create-token", "all").returncode == 0
    wrong = newsletter(settings, "admin", "create-token", "x", "--scope", "everything")
    assert wrong.returncode == 1
    assert "unknown scope 'everything'" in wrong.stderr
    engine = create_db_engine(settings.database_url)
    with create_session_factory(engine)() as s:
        roles = dict(s.execute(select(AdminUser.username, AdminUser.role)).all())
        scopes = dict(s.execute(select(ApiToken.name, ApiToken.scopes)).all())
    engine.dispose()
    assert roles == {"bientap": "editor", "cu": "admin"}
    assert scopes == {
        "cms": "read articles:write",
        "all": "read articles:write bulletins:draft bulletins:send",
    }


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    rt.close()


def test_bulletin_send_over_the_threshold(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    """Over the threshold `bulletin send --yes` keeps the draft for a second official (exit
    3, the id printed); --emergency-reason sends it, the reason kept; --send-at refuses
    the past and schedules a later time."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 2)
    body = tmp_path / "body.md"
    body.write_text("Cắt nước từ 8:00.", encoding="utf-8")
    common = ["bulletin", "send", "--subject", "Cắt nước", "--body-file", str(body), "--yes"]
    held = newsletter(settings, *common)
    assert held.returncode == 3, held.stderr
    assert "over the approval threshold of 1" in held.stderr
    held_id = int(held.stdout.strip())
    urgent = newsletter(settings, *common, "--emergency-reason", "Vỡ đường ống chính")
    assert urgent.returncode == 0, urgent.stderr
    urgent_id = int(urgent.stdout.strip())
    past = newsletter(settings, *common, "--send-at", "2000-01-01T08:00")
    assert past.returncode == 1
    assert "is in the past" in past.stderr
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)
    scheduled = newsletter(settings, *common, "--send-at", later.isoformat())
    assert scheduled.returncode == 0, scheduled.stderr
    assert "will not start unless approved" in scheduled.stderr
    with runtime.sessions() as s:
        assert s.get_one(Campaign, held_id).status is CampaignStatus.DRAFT
        sent = s.get_one(Campaign, urgent_id)
        assert sent.status is not CampaignStatus.DRAFT
        assert sent.emergency_reason == "Vỡ đường ống chính"
        stored = s.get_one(Campaign, int(scheduled.stdout.strip())).send_at
        assert stored is not None
        assert abs((stored - later).total_seconds()) < 1


def test_a_due_bulletin_is_started_by_the_worker_and_delivered(
    settings: Settings, runtime: Runtime, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """The beat's task, run by a real worker, starts a bulletin whose time has come; its
    mail reaches the SMTP server and the audit trail names the schedule."""
    settings = settings.model_copy(update={"approval_threshold": 1000})
    with runtime.sessions.begin() as s:
        add_subscribers(s, 3, prefix="hengio")
    body = tmp_path / "body.md"
    body.write_text("Họp tổ dân phố lúc 19:00.", encoding="utf-8")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    made = newsletter(settings, "bulletin", "send", "--subject", "Họp tổ dân phố",
                      "--body-file", str(body), "--send-at", later)  # fmt: skip
    assert made.returncode == 0, made.stderr
    campaign_id = int(made.stdout.strip())
    with runtime.sessions.begin() as s:  # the clock reaches the set time
        s.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(send_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
        )

    def marked_sent() -> bool:
        with runtime.sessions() as s:  # a new transaction each time: never hold a lock
            return s.get_one(Campaign, campaign_id).status is CampaignStatus.SENT

    with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent,default"):
        producer = create_producer(settings)
        try:
            producer.send_task(START_DUE_BULLETINS)
            received = smtp_server.wait_for(3, timeout=60)
        finally:
            producer.close()
        wait_until(marked_sent, timeout=60, what="the campaign marked sent")
    assert sorted(m.rcpt_tos[0] for m in received) == [
        f"hengio{i:05d}@example.vn" for i in range(3)
    ]

    with runtime.sessions() as s:
        actors = s.execute(
            select(AuditEvent.actor, AuditEvent.action).where(
                AuditEvent.target == f"campaign {campaign_id}"
            )
        ).all()
    assert ("schedule", "bulletin.sent") in [tuple(row) for row in actors]
