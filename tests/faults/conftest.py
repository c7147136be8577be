"""The fault-injection rig: real workers, an SMTP sink process, a fast reconciler, logs on disk.

Every log (workers, sink, private servers, the reconciler) is written under the test's
tmp dir; a failing test names it, and the tests assert on the lines that tell the story.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

from newsletter.config import Settings
from newsletter.models import DeliveryStatus
from newsletter.runtime import build_runtime
from newsletter.tasks.app import create_celery
from newsletter.tasks.enqueue import reconcile_and_enqueue, start_and_enqueue
from tests.faults.services import Sink
from tests.support.ledger import (
    WorkerProcess,
    add_campaign,
    add_subscribers,
    ledger,
    worker_env,
)


class FastReconciler:
    """Beat's reconciler, run every `every` seconds with a short lease and stall.

    Beat runs it every minute with a 10-minute lease and a 2-minute stall; the shorter
    values keep the suite quick and change nothing else. The lease stays far above the
    few seconds a chunk takes, so a live worker never loses its rows.
    """

    def __init__(self, rig: Rig, *, every: float = 3, lease: float = 30, stall: float = 10) -> None:
        self.rig = rig
        self.every = every
        self.lease = dt.timedelta(seconds=lease)
        self.stall = dt.timedelta(seconds=stall)
        self.stopping = threading.Event()
        self.log = (rig.logs / "reconciler.log").open("a", encoding="utf-8")
        self.enqueued = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _write(self, line: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        self.log.write(f"{stamp} {line}\n")
        self.log.flush()

    def _loop(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                found = reconcile_and_enqueue(
                    self.rig.app, self.rig.runtime, lease=self.lease, stall=self.stall
                )
            except Exception as exc:  # the database or broker is down: beat would log and go on
                self._write(f"reconcile failed: {type(exc).__name__}: {exc}".splitlines()[0])
                continue
            if found:
                self.enqueued += found
                self._write(f"reconcile re-enqueued {found} batches")

    def __enter__(self) -> FastReconciler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)
        self.log.close()


class Rig:
    """Settings, a producer app and a runtime in the test; workers as real processes."""

    def __init__(self, settings: Settings, logs: Path, sink: Sink | None) -> None:
        self.settings = settings
        self.logs = logs
        self.sink = sink
        self.runtime = build_runtime(settings)
        self.app: Celery = create_celery(settings)
        self.workers: list[WorkerProcess] = []

    def worker(self, queues: str = "urgent,bulk,default", concurrency: int = 1,
               env: dict[str, str] | None = None) -> WorkerProcess:  # fmt: skip
        process = WorkerProcess(
            self.settings,
            self.logs / f"worker-{len(self.workers)}.log",
            queues=queues,
            concurrency=concurrency,
            env={**worker_env(self.settings), **(env or {})},
        )
        self.workers.append(process)
        return process

    def campaign(self, count: int) -> int:
        with self.runtime.sessions.begin() as s:
            add_subscribers(s, count)
            return add_campaign(s)

    def start(self, campaign_id: int) -> None:
        start_and_enqueue(self.app, self.runtime, campaign_id)

    def counts(self, campaign_id: int) -> Counter[DeliveryStatus]:
        with self.runtime.sessions() as s:
            return ledger(s, campaign_id)

    def reconciler(self, **kwargs: float) -> FastReconciler:
        return FastReconciler(self, **kwargs)

    def worker_logs(self) -> str:
        return "".join(
            p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(self.logs.glob("worker-*.log"))
        )

    def close(self) -> None:
        with (self.logs / "teardown.log").open("a", encoding="utf-8") as out:
            for n, process in enumerate(self.workers):
                began = time.monotonic()
                process.stop()
                out.write(f"worker-{n} stopped in {time.monotonic() - began:.1f}s\n")
        self.app.close()
        self.runtime.close()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def sink(logs: Path) -> Iterator[Sink]:
    """The SMTP sink in a process of its own, recording every accepted recipient."""
    server = Sink(logs)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_rig(logs: Path, settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(*, sink: Sink | None = None, **overrides: object) -> Rig:
        values: dict[str, object] = {"send_rate": 1000, "batch_size": 200}
        if sink is not None:
            values["smtp_url"] = sink.url
        values.update(overrides)
        rig = Rig(settings_factory(**values), logs, sink)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def assert_everyone_once(received: Counter[str], expected: set[str], *, crashes: int = 0) -> None:
    """Every eligible address got the mail; duplicates at most one per crash."""
    missing = expected - set(received)
    assert not missing, f"{len(missing)} never mailed, e.g. {sorted(missing)[:3]}"
    assert set(received) <= expected, "mail went to an address outside the campaign"
    duplicates = sum(received.values()) - len(received)
    assert duplicates <= crashes, f"{duplicates} duplicates for {crashes} crashes"


def addresses(count: int, prefix: str = "dan") -> set[str]:
    return {f"{prefix}{i:05d}@example.vn" for i in range(count)}


@pytest.fixture
def shared_services(database_url: str, redis_url: str, redis_prefix: str) -> dict[str, object]:
    """Settings for the machine's PostgreSQL and Redis (a database and key prefix of its own)."""
    return {
        "database_url": database_url,
        "broker_url": redis_url,
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
    }
