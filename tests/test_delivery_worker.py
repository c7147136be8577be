"""The delivery engine end to end: real `newsletter worker` processes, Redis, PostgreSQL, SMTP.

Each test has its own database, its own Redis key prefix (queues included) and its own
SMTP server, so parallel runs on the shared Redis never see each other's tasks.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.delivery import ledger as delivery
from newsletter.models import CampaignKind, Delivery, DeliveryStatus
from newsletter.runtime import build_runtime
from newsletter.tasks.app import create_celery
from newsletter.tasks.enqueue import enqueue, reconcile_and_enqueue, start_and_enqueue
from tests.support.ledger import (
    WorkerProcess,
    add_campaign,
    add_category,
    add_subscribers,
    ledger,
    wait_for_ledger,
    wait_until,
)
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.parametrize("db_backend", ["postgresql"])


class Engine:
    """What a test drives: settings, runtime, a producer app, and worker processes."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.runtime = build_runtime(settings)
        self.app: Celery = create_celery(settings)
        self.logs = logs
        self.workers: list[WorkerProcess] = []

    def worker(self, queues: str = "urgent,bulk,default", concurrency: int = 1) -> WorkerProcess:
        process = WorkerProcess(
            self.settings,
            self.logs / f"worker-{len(self.workers)}.log",
            queues=queues,
            concurrency=concurrency,
        )
        self.workers.append(process)
        return process

    def campaign(
        self, count: int, *, kind: CampaignKind = CampaignKind.BULLETIN, prefix: str = "dan"
    ) -> int:
        with self.runtime.sessions.begin() as s:
            add_subscribers(s, count, prefix=prefix)
            return add_campaign(s, kind=kind)

    def start(self, campaign_id: int) -> delivery.Work:
        return start_and_enqueue(self.app, self.runtime, campaign_id)

    def queues_drained(self) -> bool:
        """No task of this test waits in, or is held from, its Redis queues."""
        prefix = self.settings.redis_prefix
        client = redis.Redis.from_url(self.settings.redis_url)
        try:
            waiting = sum(client.llen(prefix + q) for q in ("urgent", "bulk", "default"))
            return waiting == 0 and client.hlen(prefix + "unacked") == 0
        finally:
            client.close()

    def close(self) -> None:
        for process in self.workers:
            process.stop()
        self.app.close()
        self.runtime.close()


@pytest.fixture
def make_engine(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    settings_factory: Callable[..., Settings],
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(**overrides: object) -> Engine:
        values: dict[str, object] = {
            "database_url": database_url,
            "broker_url": redis_url,
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "smtp_url": smtp_server.url,
            "send_rate": 500,
            "batch_size": 100,
        }
        values.update(overrides)
        engine = Engine(settings_factory(**values), tmp_path)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def recipients(smtp_server: SMTPServer) -> Counter[str]:
    return Counter(m.rcpt_tos[0] for m in smtp_server.received)


def sent_count(engine: Engine, campaign_id: int) -> int:
    with engine.runtime.sessions() as s:
        return ledger(s, campaign_id)[DeliveryStatus.SENT]


def test_thousand_subscribers_get_one_message_each_and_a_rerun_sends_nothing(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """1,000 active subscribers → 1,000 distinct recipients, each once, even if re-run."""
    engine = make_engine(send_rate=2000, batch_size=200)
    campaign_id = engine.campaign(1000)
    engine.worker(concurrency=2)
    work = engine.start(campaign_id)
    assert len(work.ranges) == 5
    assert wait_for_ledger(engine.runtime, campaign_id, timeout=120) == {DeliveryStatus.SENT: 1000}
    smtp_server.wait_for(1000)
    # The same campaign started again, and its tasks delivered again by the broker.
    assert engine.start(campaign_id).ranges == []
    enqueue(engine.app, [work])
    wait_until(lambda: engine.queues_drained(), timeout=60, what="the repeated tasks to run")
    got = recipients(smtp_server)
    assert len(got) == 1000
    assert set(got.values()) == {1}


def test_sigkill_mid_campaign_loses_nothing_and_duplicates_at_most_one(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """A worker killed with SIGKILL, then restarted: everyone gets it, ≤ 1 duplicate per kill."""
    engine = make_engine(send_rate=150, batch_size=100)
    campaign_id = engine.campaign(400)
    worker = engine.worker()
    engine.start(campaign_id)
    wait_until(lambda: sent_count(engine, campaign_id) >= 100, timeout=60, what="100 sent")
    worker.kill()
    # The reconciler as beat would run it once the lease ran out (the dead worker's
    # lease is expired by hand here instead of waiting ten minutes).
    assert reconcile_and_enqueue(
        engine.app, engine.runtime, lease=dt.timedelta(0), stall=dt.timedelta(0)
    )
    engine.worker()
    assert wait_for_ledger(engine.runtime, campaign_id, timeout=120) == {DeliveryStatus.SENT: 400}
    got = recipients(smtp_server)
    assert len(got) == 400
    assert sum(got.values()) - 400 <= 1


def test_broker_losing_every_queued_task_is_repaired_by_the_reconciler(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer, redis_url: str, redis_prefix: str
) -> None:
    """Deleting this run's queues mid-campaign loses no mail: the reconciler re-enqueues."""
    engine = make_engine(send_rate=200, batch_size=50)
    campaign_id = engine.campaign(400)
    engine.worker()
    engine.start(campaign_id)
    wait_until(lambda: sent_count(engine, campaign_id) >= 60, timeout=60, what="60 sent")
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=redis_prefix + "*", count=1000))
        assert keys
        client.delete(*keys)
    finally:
        client.close()
    with engine.runtime.sessions() as s:
        wait_until(
            lambda: (
                sent_count(engine, campaign_id) < 400
                and not ledger(s, campaign_id)[DeliveryStatus.SENDING]
            ),
            timeout=60,
            what="the running batch to end",
        )
    assert sent_count(engine, campaign_id) < 400  # the lost tasks really were lost
    assert reconcile_and_enqueue(engine.app, engine.runtime, stall=dt.timedelta(0))
    assert wait_for_ledger(engine.runtime, campaign_id, timeout=120) == {DeliveryStatus.SENT: 400}
    assert set(recipients(smtp_server).values()) == {1}
    assert len(recipients(smtp_server)) == 400


def test_temporary_refusals_are_retried_and_permanent_ones_are_not(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """4xx for 10% of recipients: all delivered after retries; 5xx: bounced after one try."""
    engine = make_engine(send_rate=500, batch_size=50)
    campaign_id = engine.campaign(200)
    busy = {f"dan{i:05d}@example.vn" for i in range(0, 200, 10)}
    gone = {f"dan{i:05d}@example.vn" for i in range(5, 200, 40)}
    for address in busy:
        smtp_server.refuse(address, "451 4.3.0 mailbox busy, try again later")
    for address in gone:
        smtp_server.refuse(address, "550 5.1.1 no such user")
    engine.worker()
    engine.start(campaign_id)

    def first_pass_done() -> bool:
        with engine.runtime.sessions() as s:
            retried = s.scalars(
                select(Delivery.attempts).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.status == DeliveryStatus.QUEUED,
                    Delivery.attempts >= 1,
                )
            ).all()
        return len(retried) == len(busy)

    wait_until(first_pass_done, timeout=60, what="every 4xx row tried once and queued again")
    for address in busy:
        smtp_server.handler.rcpt_replies.pop(address)
    counts = wait_for_ledger(
        engine.runtime,
        campaign_id,
        timeout=120,
        done=(DeliveryStatus.SENT, DeliveryStatus.BOUNCED),
    )
    assert counts == {DeliveryStatus.SENT: 200 - len(gone), DeliveryStatus.BOUNCED: len(gone)}
    with engine.runtime.sessions() as s:
        failed = s.execute(
            select(Delivery.attempts, Delivery.last_error).where(
                Delivery.status == DeliveryStatus.BOUNCED
            )
        ).all()
    assert {attempts for attempts, _ in failed} == {1}
    assert all("550 5.1.1" in error for _, error in failed)
    got = recipients(smtp_server)
    assert busy <= set(got)
    assert not gone & set(got)
    assert set(got.values()) == {1}


def test_bulletin_overtakes_a_running_digest(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """A bulletin started mid-digest is fully sent while the digest still has rows queued."""
    engine = make_engine(send_rate=100, batch_size=50)
    with engine.runtime.sessions.begin() as s:
        news = add_category(s, "tin-tuc", "Tin tức")
        weather = add_category(s, "thoi-tiet", "Thời tiết")
        add_subscribers(s, 500, prefix="tuan", categories=[news])
        digest = add_campaign(s, kind=CampaignKind.DIGEST, subject="Bản tin tuần")
    bulk = engine.worker(queues="bulk")
    urgent = engine.worker(queues="urgent,default")
    engine.start(digest)
    wait_until(lambda: sent_count(engine, digest) >= 50, timeout=60, what="the digest under way")
    # The digest's sender yields the CPU to the bulletin's (cli/processes.default_niceness).
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, bulk.process.pid) == min(19, own + 10)
    assert os.getpriority(os.PRIO_PROCESS, urgent.process.pid) == own
    autogroup = Path(f"/proc/{bulk.process.pid}/autogroup")
    if autogroup.exists():  # the worker leads its own session (WorkerProcess): niced as a group
        assert autogroup.read_text().split()[-1] == "10"
    with engine.runtime.sessions.begin() as s:
        add_subscribers(s, 40, prefix="khan", categories=[weather])
        bulletin = add_campaign(
            s, kind=CampaignKind.BULLETIN, subject="Cảnh báo bão số 9", categories=[weather]
        )
    engine.start(bulletin)
    wait_for_ledger(engine.runtime, bulletin, timeout=60)
    with engine.runtime.sessions() as s:
        digest_left = ledger(s, digest)[DeliveryStatus.QUEUED]
        bulletin_total = ledger(s, bulletin)[DeliveryStatus.SENT]
    assert bulletin_total == 40
    assert digest_left > 0
    wait_for_ledger(engine.runtime, digest, timeout=120)


def test_one_sender_gives_way_to_a_bulletin_mid_digest_batch(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """A single sending process leaves a digest batch between chunks for a bulletin's batch."""
    # One digest batch of 600 rows (~6 s at 100/s): without giving way, the bulletin
    # would wait for all of it.
    engine = make_engine(send_rate=100, batch_size=1000)
    with engine.runtime.sessions.begin() as s:
        news = add_category(s, "tin-tuc", "Tin tức")
        weather = add_category(s, "thoi-tiet", "Thời tiết")
        add_subscribers(s, 600, prefix="tuan", categories=[news])
        digest = add_campaign(
            s, kind=CampaignKind.DIGEST, subject="Bản tin tuần", categories=[news]
        )
        add_subscribers(s, 20, prefix="khan", categories=[weather])
        bulletin = add_campaign(
            s, kind=CampaignKind.BULLETIN, subject="Cảnh báo bão số 9", categories=[weather]
        )
    engine.worker(queues="urgent,bulk", concurrency=1)
    assert len(engine.start(digest).ranges) == 1
    wait_until(lambda: sent_count(engine, digest) >= 60, timeout=60, what="the digest under way")
    engine.start(bulletin)
    wait_for_ledger(engine.runtime, bulletin, timeout=60)
    with engine.runtime.sessions() as s:
        digest_left = ledger(s, digest)[DeliveryStatus.QUEUED]
    assert digest_left > 0
    # The digest resumes where it gave way: every reader gets it once.
    assert wait_for_ledger(engine.runtime, digest, timeout=120) == {DeliveryStatus.SENT: 600}
    got = recipients(smtp_server)
    assert len(got) == 620
    assert set(got.values()) == {1}


def test_two_workers_share_one_send_budget(
    make_engine: Callable[..., Engine], smtp_server: SMTPServer
) -> None:
    """Two workers together keep to NEWSLETTER_SEND_RATE, counted from the ledger's sent_at."""
    rate = 20
    engine = make_engine(send_rate=rate, batch_size=20)
    campaign_id = engine.campaign(120)
    engine.worker()
    engine.worker()
    engine.start(campaign_id)
    wait_for_ledger(engine.runtime, campaign_id, timeout=120)
    with engine.runtime.sessions() as s:
        times = sorted(
            t.timestamp()
            for t in s.scalars(select(Delivery.sent_at).where(Delivery.campaign_id == campaign_id))
            if t is not None
        )
    assert len(times) == 120
    window = 3.0
    burst = max(1.0, rate / 10)
    # Generous tolerance (a mark can trail its send on a loaded machine); without sharing,
    # two workers would reach twice the rate: 120 in the window.
    limit = rate * window * 1.5 + burst + 2
    busiest = max(sum(1 for t in times if start <= t < start + window) for start in times)
    assert busiest <= limit, f"{busiest} messages in {window}s, budget allows {limit:.0f}"
