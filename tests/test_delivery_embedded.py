"""The same flow on the embedded defaults: SQLite, kombu's SQLAlchemy broker, Maildir outbox."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.models import Article, DeliveryStatus
from newsletter.runtime import build_runtime
from tests.support.ledger import WorkerProcess, add_subscribers, wait_for_ledger, worker_env

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


def newsletter(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bulletin_and_digest_reach_the_outbox_on_embedded_defaults(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """CLI bulletin and `digest send --now` are sent by a real worker over the SQLite broker."""
    settings = settings_factory(database_url=database_url, send_rate=200, batch_size=20)
    assert settings.uses_embedded_broker
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            add_subscribers(s, 30)
            yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            s.add(Article(guid="g1", url="https://example.gov.vn/tin/1",
                          title="Khánh thành cầu mới", published_at=yesterday))  # fmt: skip
        body = tmp_path / "body.txt"
        body.write_text("Cắt nước khu vực phường Hòa Bình từ 8 giờ đến 17 giờ.\n", encoding="utf-8")
        with WorkerProcess(settings, tmp_path / "worker.log"):
            sent = newsletter(settings, "bulletin", "send", "--subject", "Thông báo cắt nước",
                              "--body-file", str(body), "--yes")  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            bulletin_id = int(sent.stdout.strip())
            digest = newsletter(settings, "digest", "send", "--now")
            assert digest.returncode == 0, digest.stderr
            assert "started" in digest.stdout
            digest_id = int(digest.stdout.split("#")[1].split()[0])
            for campaign_id in (bulletin_id, digest_id):
                counts = wait_for_ledger(runtime, campaign_id, timeout=90)
                assert counts == {DeliveryStatus.SENT: 30}
            again = newsletter(settings, "digest", "send", "--now")
            assert "no digest" in again.stdout
            shown = newsletter(settings, "campaigns", "show", str(bulletin_id), "--json")
            assert json.loads(shown.stdout)["sent"] == 30
    finally:
        runtime.close()
    outbox = mailbox.Maildir(str(settings.smtp_url.removeprefix("maildir:")), create=False)
    try:
        messages = [
            message_from_bytes(outbox.get_bytes(key), policy=policy.default)
            for key in outbox.iterkeys()
        ]
    finally:
        outbox.close()
    per_recipient = Counter(str(m["Delivered-To"]) for m in messages)
    assert len(per_recipient) == 30
    assert set(per_recipient.values()) == {2}
    subjects = Counter(str(m["Subject"]) for m in messages)
    assert subjects["Thông báo cắt nước"] == 30
