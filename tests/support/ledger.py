"""Helpers for delivery tests: fill a database, start campaigns, read the ledger, run workers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import (
    Campaign,
    CampaignKind,
    Category,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    subscriber_categories,
)
from newsletter.models.subscribers import new_link_key
from newsletter.runtime import Runtime


def add_subscribers(
    session: Session,
    count: int,
    *,
    domain: str = "example.vn",
    prefix: str = "dan",
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    categories: Iterable[int] = (),
) -> list[int]:
    """Insert `count` subscribers in one statement; returns their ids in order.

    Pending ones hold a confirmation key, as a real request leaves them."""
    emails = [f"{prefix}{i:05d}@{domain}" for i in range(count)]
    waiting = status is SubscriberStatus.PENDING
    session.execute(
        insert(Subscriber),
        [
            {
                "email": e,
                "status": status,
                "locale": "vi",
                "confirm_key": new_link_key() if waiting else None,
            }
            for e in emails
        ],
    )
    ids = list(
        session.scalars(
            select(Subscriber.id).where(Subscriber.email.in_(emails)).order_by(Subscriber.id)
        )
    )
    category_ids = list(categories)
    if category_ids:
        session.execute(
            insert(subscriber_categories),
            [{"subscriber_id": s, "category_id": c} for s in ids for c in category_ids],
        )
    return ids


def add_category(session: Session, slug: str, name: str) -> int:
    category = Category(slug=slug, name=name)
    session.add(category)
    session.flush()
    return category.id


def add_campaign(
    session: Session,
    *,
    kind: CampaignKind = CampaignKind.BULLETIN,
    subject: str = "Thông báo cắt nước",
    categories: Iterable[int] = (),
) -> int:
    campaign = Campaign(kind=kind, subject=subject, body_text="Nội dung thông báo.")
    if kind is CampaignKind.DIGEST:  # the composer reads a digest's articles from its window
        now = dt.datetime.now(dt.UTC)
        campaign.window_start, campaign.window_end = now - dt.timedelta(days=7), now
    ids = list(categories)
    if ids:
        campaign.categories = list(session.scalars(select(Category).where(Category.id.in_(ids))))
    session.add(campaign)
    session.flush()
    return campaign.id


def ledger(session: Session, campaign_id: int) -> Counter[DeliveryStatus]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return Counter({status: int(n) for status, n in rows})


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_for_ledger(
    runtime: Runtime, campaign_id: int, *, timeout: float = 60, done: Iterable[DeliveryStatus] = ()
) -> Counter[DeliveryStatus]:
    """Wait until no row of the campaign is queued or sending; returns the final counts."""
    finals = set(done) or {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED}
    counts: Counter[DeliveryStatus] = Counter()

    def settled() -> bool:
        nonlocal counts
        with runtime.sessions() as session:
            counts = ledger(session, campaign_id)
        return sum(counts.values()) > 0 and all(status in finals for status in counts)

    wait_until(settled, timeout=timeout, what=f"campaign {campaign_id} to settle ({counts})")
    return counts


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a `newsletter worker` subprocess needs to act as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_ENV": settings.env.value,
            "NEWSLETTER_SECRET_KEY": settings.secret_key,
            "NEWSLETTER_VAR_DIR": str(settings.var_dir),
            "NEWSLETTER_DATABASE_URL": settings.database_url,
            "NEWSLETTER_BROKER_URL": settings.broker_url,
            "NEWSLETTER_REDIS_URL": settings.redis_url,
            "NEWSLETTER_REDIS_PREFIX": settings.redis_prefix,
            "NEWSLETTER_SMTP_URL": settings.smtp_url,
            "NEWSLETTER_PUBLIC_URL": settings.public_url,
            "NEWSLETTER_FROM": settings.mail_from,
            "NEWSLETTER_SEND_RATE": str(settings.send_rate),
            "NEWSLETTER_BATCH_SIZE": str(settings.batch_size),
            "NEWSLETTER_DAILY_CAP": str(settings.daily_cap),
            "NEWSLETTER_APPROVAL_THRESHOLD": str(settings.approval_threshold),
        }
    )
    return env


class WorkerProcess:
    """A real `newsletter worker` in its own process group (so SIGKILL reaches its pool)."""

    def __init__(self, settings: Settings, log: Path, *, queues: str = "urgent,bulk,default",
                 concurrency: int = 1, env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.log_file = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletter",
                "worker",
                f"--queues={queues}",
                f"--concurrency={concurrency}",
            ],
            env=env or worker_env(settings),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no chance to clean up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log_file.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
