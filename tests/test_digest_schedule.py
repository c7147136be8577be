"""The weekly digest from beat's side: built and started once per period, from new articles."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import Article, Campaign, CampaignKind, CampaignStatus, DeliveryStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import ScheduleError, create_celery, digest_crontab
from newsletter.tasks.enqueue import build_and_start_digest
from tests.support.ledger import add_subscribers, ledger

MONDAY = dt.datetime(2026, 11, 23, 7, 0, 5, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def add_article(session: Session, guid: str, published: dt.datetime) -> None:
    session.add(
        Article(guid=guid, url=f"https://example.gov.vn/{guid}", title=f"Tin {guid}",
                published_at=published)
    )  # fmt: skip


@pytest.fixture
def runtime(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[Runtime]:
    rt = build_runtime(settings_factory(database_url=database_url))
    yield rt
    rt.close()


@pytest.fixture
def celery_app(runtime: Runtime) -> Iterator[Celery]:
    """An app on the test's own embedded broker: tasks are enqueued, no worker runs them."""
    app = create_celery(runtime.settings)
    yield app
    app.close()


def digests(runtime: Runtime) -> list[Campaign]:
    with runtime.sessions() as s:
        return list(s.scalars(select(Campaign).where(Campaign.kind == CampaignKind.DIGEST)))


def test_digest_is_started_once_per_period_from_new_articles(
    runtime: Runtime, celery_app: Celery
) -> None:
    """No new article → no digest; one → one started digest; a re-run that week → nothing."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 3)
    assert build_and_start_digest(celery_app, runtime, now=MONDAY) is None
    with runtime.sessions.begin() as s:
        add_article(s, "a1", MONDAY - dt.timedelta(days=3))
    campaign_id = build_and_start_digest(celery_app, runtime, now=MONDAY)
    assert campaign_id is not None
    assert build_and_start_digest(celery_app, runtime, now=MONDAY + dt.timedelta(hours=5)) is None
    [digest] = digests(runtime)
    assert digest.status is CampaignStatus.SENDING
    with runtime.sessions() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 3}
    next_week = MONDAY + dt.timedelta(days=7)
    assert build_and_start_digest(celery_app, runtime, now=next_week) is None  # nothing new
    with runtime.sessions.begin() as s:
        add_article(s, "a2", next_week - dt.timedelta(days=1))
    assert build_and_start_digest(celery_app, runtime, now=next_week) is not None
    assert len(digests(runtime)) == 2


def test_two_beats_at_once_make_one_digest(runtime: Runtime) -> None:
    """Two schedulers building the same period concurrently start exactly one digest."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 2)
        add_article(s, "b1", MONDAY - dt.timedelta(days=1))
    barrier = threading.Barrier(2)
    started: list[int | None] = []

    def beat() -> None:
        app = create_celery(runtime.settings)
        try:
            barrier.wait()
            started.append(build_and_start_digest(app, runtime, now=MONDAY))
        finally:
            app.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(digests(runtime)) == 1
    assert sorted(started, key=lambda x: x is None)[1] is None
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
        [campaign_id] = [c for c in started if c is not None]
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 2}


@pytest.mark.parametrize("schedule", ["every monday", "0 7 * *"])
def test_bad_schedule_is_refused_with_a_clear_message(
    settings_factory: Callable[..., Settings], schedule: str
) -> None:
    """A schedule that is not cron names the setting and shows an example."""
    with pytest.raises(ScheduleError, match="NEWSLETTER_DIGEST_SCHEDULE"):
        digest_crontab(settings_factory(digest_schedule=schedule))
