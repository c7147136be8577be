"""What an operator meets at the terminal: the password prompt, a finished campaign's progress."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import sys
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter.db import create_db_engine
from newsletter.models import Campaign, CampaignStatus, DeliveryStatus, utcnow
from newsletter.models import Delivery as DeliveryRow
from tests.conftest import TEST_SECRET
from tests.support.ledger import add_campaign, add_subscribers
from tests.test_cli import newsletter

# click writes a hidden prompt's text, then getpass flushes the terminal's input and writes
# the last space: what is typed before that space would be thrown away.
PASSWORD = "Password: "
REPEAT = "Repeat for confirmation: "


class Terminal:
    """A real `newsletter` process on a pseudo-terminal, read until a text appears."""

    def __init__(self, *args: str, env: dict[str, str], cwd: Path) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        full_env.update({"NEWSLETTER_SECRET_KEY": TEST_SECRET, **env})
        # pty.fork makes the terminal the child's controlling one, as a login shell's is:
        # a hidden prompt (getpass) reads /dev/tty with echo off, as it does for a person.
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "newsletter", *args], full_env)  # noqa: S606
        self.screen = ""
        self.seen = 0  # where the next wait_for starts looking

    def wait_for(self, text: str) -> str:
        """What was printed since the last match up to `text` (bounded: a hang fails the test)."""
        for _ in range(600):
            found = self.screen.find(text, self.seen)
            if found >= 0:
                start, self.seen = self.seen, found + len(text)
                return self.screen[start : self.seen]
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:  # the process closed the terminal
                    break
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen}")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        """The exit code, once the process ended (it is killed if still asking after 60 s)."""
        for _ in range(600):
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            select.select([self.master], [], [], 0.1)
            with contextlib.suppress(OSError):
                self.screen += os.read(self.master, 4096).decode("utf-8", "replace")
        else:
            os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
        os.close(self.master)
        return os.waitstatus_to_exitcode(status)


def test_create_user_refuses_a_short_password_at_the_first_entry(
    database_url: str, tmp_path: Path
) -> None:
    """A short first entry is refused before the confirmation is asked; then a good one works."""
    term = Terminal("admin", "create-user", "canbo",
                    env={"NEWSLETTER_DATABASE_URL": database_url}, cwd=tmp_path)  # fmt: skip
    try:
        term.wait_for(PASSWORD)
        term.type("short")
        screen = term.wait_for("at least 12 characters")
        assert "Repeat" not in screen
        term.wait_for(PASSWORD)
        term.type("mot-mat-khau-du-dai")
        term.wait_for(REPEAT)
        term.type("mot-mat-khau-du-dai")
        term.wait_for("created admin user canbo")
        assert "mot-mat-khau" not in term.screen, "never echoed"
    finally:
        assert term.close() == 0
    again = Terminal("admin", "create-user", "canbo",
                     env={"NEWSLETTER_DATABASE_URL": database_url}, cwd=tmp_path)  # fmt: skip
    assert again.close() == 1
    assert "already exists" in again.screen
    assert "Password" not in again.screen, "a taken name is refused before the password is asked"


def test_show_of_a_finished_campaign_has_no_time_left(database_url: str, tmp_path: Path) -> None:
    """`campaigns show` of a sent campaign gives counts and when it ended, no rate or time left."""
    engine = create_db_engine(database_url)
    with Session(engine) as s, s.begin():
        ids = add_subscribers(s, 3)
        campaign_id = add_campaign(s)
        s.add_all(
            DeliveryRow(campaign_id=campaign_id, subscriber_id=i, status=DeliveryStatus.SENT)
            for i in ids
        )
        s.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status=CampaignStatus.SENT, started_at=utcnow(), finished_at=utcnow(),
                    total_count=3, sent_count=3)
        )  # fmt: skip
    engine.dispose()
    shown = newsletter("campaigns", "show", str(campaign_id),
                       env={"NEWSLETTER_DATABASE_URL": database_url}, cwd=tmp_path)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "sent: sent 3, failed 0, skipped 0 · ended" in shown.stdout
    assert "time left" not in shown.stdout
    assert "/s" not in shown.stdout
