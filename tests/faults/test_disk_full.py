"""The Maildir outbox's disk fills up mid-send: rows wait in `queued`, none lost, all sent later.

A real full disk: a 4 MB tmpfs (mounting needs root; elsewhere the test is skipped) filled
with a ballast file mid-send, then emptied.
"""

from __future__ import annotations

import contextlib
import errno
import mailbox
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from newsletter.models import DeliveryStatus
from tests.faults.conftest import Rig, addresses, assert_everyone_once
from tests.support.ledger import wait_for_ledger, wait_until
from tests.support.requirements import require

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("db_backend", ["postgresql"])]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of this test's own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    require(
        done.returncode == 0,
        f"cannot mount a tmpfs (the test needs root): {done.stderr.strip()}",
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a ballast file until the disk refuses another byte."""
    ballast = disk / "ballast"
    with ballast.open("wb", buffering=0) as out:
        block = b"\0" * 4096
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
    with pytest.raises(OSError, match="No space left") as full:
        (disk / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return ballast


def outbox_recipients(outbox: Path) -> Counter[str]:
    box = mailbox.Maildir(str(outbox), create=False)
    try:
        return Counter(
            str(message_from_bytes(box.get_bytes(key), policy=policy.default)["Delivered-To"])
            for key in box.iterkeys()
        )
    finally:
        box.close()


def test_full_outbox_disk_keeps_rows_queued_until_space_returns(
    make_rig: Callable[..., Rig],
    small_disk: Path,
    shared_services: dict[str, object],
    logs: Path,
) -> None:
    """With the outbox disk full, no row fails or is lost; freed, every message lands once."""
    count = 300
    outbox = small_disk / "outbox"
    rig = make_rig(smtp_url=f"maildir:{outbox}", send_rate=200, batch_size=50, **shared_services)
    campaign_id = rig.campaign(count)
    rig.worker()
    with rig.reconciler(lease=30, stall=10):
        rig.start(campaign_id)
        wait_until(
            lambda: outbox.exists() and len(outbox_recipients(outbox)) >= 50,
            timeout=60,
            what="50 messages in the outbox",
        )
        ballast = fill(small_disk)
        wait_until(
            lambda: "cannot write to outbox" in rig.worker_logs(),
            timeout=60,
            what="a write refused for lack of space",
        )
        time.sleep(5)  # several retries against the full disk
        during = rig.counts(campaign_id)
        ballast.unlink()
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=240)
    assert DeliveryStatus.FAILED not in during, f"{during}; logs in {logs}"
    assert during[DeliveryStatus.QUEUED] > 0
    assert counts == {DeliveryStatus.SENT: count}, f"{counts}; logs in {logs}"
    assert_everyone_once(outbox_recipients(outbox), addresses(count))
    worker_log = rig.worker_logs()
    assert "No space left on device" in worker_log
    assert f'"campaign_id": {campaign_id}, "delivery_id": ' in worker_log
