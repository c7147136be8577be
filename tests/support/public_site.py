"""The public site served by a real uvicorn on a loopback port, with its database, SMTP and worker.

Confirmation mail leaves through the urgent queue, so every site has a real
`newsletter worker --queues urgent` behind it. Starting one takes seconds, so each test
module gets one "mail lane" per database backend — a database, an SMTP server, a broker
(Redis under a prefix of its own, or the embedded broker without services) and the worker
reading them — and every test starts from an emptied database, an empty mailbox and
fresh rate-limit counts. A test ends only once the worker has finished its tasks, so
no mail of one test reaches the next.

Test modules import the fixtures they use, `mail_lanes_fixture` and `mail_lane_fixture`
included (pytest finds fixtures by the module's names).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from celery import Celery
from fastapi import FastAPI
from sqlalchemy import text

from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.models import Base, Subscriber, SubscriberStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.subscribers.ip_limit import ADDRESS_PREFIX, DEFAULT_PREFIX
from newsletter.tasks.app import create_celery
from newsletter.tasks.enqueue import enqueue_confirmation
from newsletter.web import create_app
from tests.conftest import REDIS_URL, SERVICES_OFF, TEST_SECRET, DatabaseFactory
from tests.support.ledger import WorkerProcess, wait_until
from tests.support.smtp import SMTPServer, _free_port

# The settings of every site and of its worker (as tests/conftest.py settings_factory).
PUBLIC_URL = "https://bantin.example.gov.vn"
MAIL_FROM = "Bản tin Thành phố Hoa Sen <bantin@example.gov.vn>"


class LiveServer:
    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        # uvicorn lets running requests and their background tasks (the enqueue) finish.
        self.server.should_exit = True
        self.thread.join(timeout=30)


class MailLane:
    """A database, an SMTP server, a broker and a `newsletter worker --queues urgent`."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.smtp = SMTPServer()
        self.smtp.start()
        if SERVICES_OFF:
            broker_url, self.redis_prefix = f"sqla+sqlite:///{workdir / 'broker.db'}", ""
        else:
            broker_url, self.redis_prefix = REDIS_URL, f"nltest:{uuid.uuid4().hex[:12]}:"
        self.settings = Settings(
            env="test",  # type: ignore[arg-type]
            var_dir=workdir / "var",
            secret_key=TEST_SECRET,
            public_url=PUBLIC_URL,
            mail_from=MAIL_FROM,
            database_url=database_url,
            smtp_url=self.smtp.url,
            broker_url=broker_url,
            redis_prefix=self.redis_prefix,
        )
        self.runtime = build_runtime(self.settings)
        self.celery: Celery = create_celery(self.settings)
        self.log = workdir / "worker.log"
        self.worker = WorkerProcess(self.settings, self.log, queues="urgent")
        self._drains = itertools.count(1)

    @property
    def overrides(self) -> dict[str, Any]:
        """What a site's settings must share with the worker."""
        return {
            "database_url": self.settings.database_url,
            "smtp_url": self.smtp.url,
            "broker_url": self.settings.broker_url,
            "redis_prefix": self.redis_prefix,
        }

    def reset(self) -> None:
        """Empty the database and the mailbox, and forget the subscribe rate-limit counts."""
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with self.runtime.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{table}"' for table in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
        with self.smtp.handler.lock:
            self.smtp.handler.received.clear()
        self.smtp.handler.rcpt_replies.clear()
        if self.settings.redis_url:
            client = redis.Redis.from_url(self.settings.redis_url)
            try:
                keys = [
                    key
                    for prefix in (DEFAULT_PREFIX, ADDRESS_PREFIX)
                    for key in client.scan_iter(match=f"{self.redis_prefix}{prefix}*")
                ]
                if keys:
                    client.delete(*keys)
            finally:
                client.close()

    def drain(self) -> None:
        """Wait until the worker has run every task queued so far.

        The worker takes one task at a time in queue order, so once a marker confirmation
        queued last has arrived, everything before it is done.
        """
        marker = f"drain{next(self._drains)}@example.gov.vn"
        with self.runtime.sessions.begin() as session:
            row = Subscriber(
                email=marker, status=SubscriberStatus.PENDING, locale="vi", confirm_key="drain"
            )
            session.add(row)
            session.flush()
            subscriber_id = row.id
        enqueue_confirmation(self.celery, subscriber_id=subscriber_id)

        def arrived() -> bool:
            if self.worker.process.poll() is not None:
                log = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise AssertionError(f"the urgent worker exited; its log ends:\n{log}")
            return any(mail.rcpt_tos == [marker] for mail in self.smtp.received)

        wait_until(arrived, timeout=120, what="the urgent worker to finish this test's mail")

    def close(self) -> None:
        self.worker.stop()
        self.celery.close()
        self.runtime.close()
        self.smtp.stop()
        if self.redis_prefix:
            client = redis.Redis.from_url(REDIS_URL)
            try:
                keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()


@pytest.fixture(name="mail_lanes", scope="module")
def mail_lanes_fixture() -> Iterator[dict[str, MailLane]]:
    """The module's mail lanes, one per database backend, made on first use."""
    lanes: dict[str, MailLane] = {}
    yield lanes
    for lane in lanes.values():
        lane.close()


@pytest.fixture(name="mail_lane")
def mail_lane_fixture(
    db_backend: str,
    database_factory: DatabaseFactory,
    mail_lanes: dict[str, MailLane],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MailLane]:
    """This backend's lane, emptied for the test and drained after it."""
    if db_backend not in mail_lanes:
        workdir = tmp_path_factory.mktemp(f"lane-{db_backend}")
        mail_lanes[db_backend] = MailLane(database_factory.new_url(), workdir)
    lane = mail_lanes[db_backend]
    lane.reset()
    yield lane
    lane.drain()


@dataclass
class Site:
    """A running public site: its URL, settings, database and the SMTP server it mails."""

    url: str
    settings: Settings
    app: FastAPI
    smtp: SMTPServer

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def add_categories(self, *pairs: tuple[str, str]) -> None:
        with self.runtime.sessions.begin() as session:
            for slug, name in pairs:
                add_category(session, slug=slug, name=name)


SiteFactory = Callable[..., Site]


@pytest.fixture(name="site_factory")
def site_factory_fixture(
    mail_lane: MailLane, settings_factory: Callable[..., Settings]
) -> Iterator[SiteFactory]:
    """Start the app over real HTTP on the lane's database, broker and SMTP server."""
    servers: list[LiveServer] = []

    def make(*, public_url_is_live: bool = False, **overrides: Any) -> Site:
        port = _free_port()
        values: dict[str, Any] = {
            **mail_lane.overrides,
            "subscribe_rate_limit": 1000,
            "subscribe_address_limit": 1000,
        }
        if public_url_is_live:
            # Links and the widget's form action must point at this very server.
            values["public_url"] = f"http://127.0.0.1:{port}"
        values.update(overrides)
        settings = settings_factory(**values)
        app = create_app(settings)
        server = LiveServer(app, port)
        server.start()
        servers.append(server)
        return Site(url=server.url, settings=settings, app=app, smtp=mail_lane.smtp)

    yield make
    # Stopped before the lane drains: their last enqueues are then in the queue.
    for server in servers:
        server.stop()


@pytest.fixture(name="site")
def site_fixture(site_factory: SiteFactory) -> Site:
    """The public site with two categories."""
    running = site_factory()
    running.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    return running
