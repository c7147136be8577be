"""`newsletter outbox`: the Maildir outbox decoded, so a newcomer finds the confirmation link."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from newsletter.config import Settings
from newsletter.delivery.confirmations import mail_confirmation
from tests.test_cli import newsletter


def test_outbox_decodes_and_lists_links(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """Mail is shown decoded (Vietnamese subject, text); --links puts /confirm/ first."""
    settings = settings_factory()
    mail_confirmation(settings, subscriber_id=7, confirm_key="c" * 32, email="lan@example.vn")
    mail_confirmation(settings, subscriber_id=8, confirm_key="c" * 32, email="binh@example.vn")
    env = {"NEWSLETTER_SMTP_URL": settings.smtp_url}
    shown = newsletter("outbox", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("From:    ") == 2
    assert "To:      lan@example.vn" in shown.stdout
    assert "Subject: Xác nhận" in shown.stdout, shown.stdout
    assert "/confirm/" in shown.stdout
    last = newsletter("outbox", "--last", env=env, cwd=tmp_path)
    assert last.stdout.count("From:    ") == 1
    assert "binh@example.vn" in last.stdout
    assert "lan@example.vn" not in last.stdout
    links = newsletter("outbox", "--last", "--links", env=env, cwd=tmp_path).stdout.splitlines()
    assert links[0].startswith("https://bantin.example.gov.vn/confirm/")
    assert all(line.startswith("http") for line in links)


def test_outbox_empty_or_not_a_maildir(tmp_path: Path) -> None:
    """An empty outbox, a missing one and an SMTP server each get one clear line."""
    missing = newsletter("outbox", cwd=tmp_path)
    assert missing.returncode == 1
    assert f"no outbox at {tmp_path}/var/outbox" in missing.stderr
    assert "NEWSLETTER_VAR_DIR" in missing.stderr
    (tmp_path / "box").mkdir()
    empty = newsletter("outbox", env={"NEWSLETTER_SMTP_URL": f"maildir:{tmp_path}/box"},
                       cwd=tmp_path)  # fmt: skip
    assert empty.returncode == 0
    assert "is empty" in empty.stderr
    smtp = newsletter("outbox", env={"NEWSLETTER_SMTP_URL": "smtp://127.0.0.1:25"}, cwd=tmp_path)
    assert smtp.returncode == 1
    assert "is not a Maildir" in smtp.stderr
    assert "Traceback" not in smtp.stderr
