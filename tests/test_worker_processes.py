"""`newsletter worker` without flags: the senders and the slow jobs, as two Celery workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [d for c in found for d in descendants(c)]


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


@pytest.mark.timeout(180)
def test_worker_without_flags_starts_senders_and_slow_jobs_apart(tmp_path: Path) -> None:
    """No --queues: one worker reads urgent then bulk, another reads default; SIGTERM ends both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({"NEWSLETTER_ENV": "development", "NEWSLETTER_SECRET_KEY": TEST_SECRET})
    newsletter = [sys.executable, "-m", "newsletter"]
    subprocess.run([*newsletter, "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        supervisor = subprocess.Popen(
            [*newsletter, "worker"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "urgent-bulk@" in text and "default@" in text and text.count(" ready.") >= 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"both workers did not become ready:\n{text[-3000:]}")
        queues = sorted(
            args[args.index("--queues") + 1]
            for args in map(cmdline, children(supervisor.pid))
            if "--queues" in args
        )
        assert queues == ["default", "urgent,bulk"]
        started = descendants(supervisor.pid)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=60)
    assert code == 0
    deadline = time.monotonic() + 30
    while any(map(running, started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [pid for pid in started if running(pid)], "a worker process was left running"
