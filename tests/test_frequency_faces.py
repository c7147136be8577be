"""The faces of sending by frequency: beat's daily entry, `digest send --frequency`, the
alert a push or an import starts after its commit, and alerts on the urgent queue."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from celery.schedules import crontab
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.accounts.api_tokens import create_api_token
from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.content.feeds import add_feed
from newsletter.db import create_db_engine
from newsletter.models import (
    ArticleBatch,
    Campaign,
    CampaignKind,
    Delivery,
    Frequency,
    Subscriber,
    utcnow,
)
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import (
    URGENT_QUEUE,
    ScheduleError,
    create_celery,
    daily_crontab,
    queue_for,
)
from newsletter.web.app import create_app
from tests.support.feedserver import FeedServer, rss, rss_item
from tests.support.ledger import add_subscribers
from tests.support.webserver import WebServer
from tests.test_cli import newsletter


def test_beat_runs_the_daily_digest_on_its_own_cron(
    settings_factory: Callable[..., Settings],
) -> None:
    """`daily-digest` follows DAILY_SCHEDULE (default 17:00) in TIMEZONE, beside the weekly."""
    app = create_celery(settings_factory())
    try:
        entry = app.conf.beat_schedule["daily-digest"]
        assert entry["task"] == "newsletter.build_and_start_daily_digest"
        assert isinstance(entry["schedule"], crontab)
        assert (entry["schedule"].minute, entry["schedule"].hour) == ({0}, {17})
        assert "newsletter.build_and_start_daily_digest" in app.tasks
        assert "weekly-digest" in app.conf.beat_schedule
    finally:
        app.close()
    custom = daily_crontab(settings_factory(daily_schedule="30 6 * * *"))
    assert (custom.minute, custom.hour) == ({30}, {6})


def test_bad_daily_schedule_names_its_setting(settings_factory: Callable[..., Settings]) -> None:
    """A daily schedule that is not cron names NEWSLETTER_DAILY_SCHEDULE and an example."""
    with pytest.raises(ScheduleError, match=r"NEWSLETTER_DAILY_SCHEDULE.*0 17"):
        daily_crontab(settings_factory(daily_schedule="every evening"))


def test_alerts_go_on_the_urgent_queue_daily_digests_on_bulk() -> None:
    """An alert starts and sends like a bulletin; a daily digest like the weekly one."""
    assert queue_for(CampaignKind.ALERT) == URGENT_QUEUE
    assert queue_for(CampaignKind.DAILY_DIGEST) == queue_for(CampaignKind.DIGEST) != URGENT_QUEUE


def _people(database_url: str, frequency: Frequency) -> None:
    engine = create_db_engine(database_url)
    with Session(engine) as s, s.begin():
        ids = add_subscribers(s, 2, prefix="an")
        s.execute(update(Subscriber).where(Subscriber.id.in_(ids)).values(frequency=frequency))
    engine.dispose()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_cli_daily_digest_and_its_reasons(database_url: str, tmp_path: Path) -> None:
    """`digest send --now --frequency hang-ngay` starts the daily digest (weekly stays
    untouched); a second one says the day has its digest; a bad value is one line."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    bad = newsletter("digest", "send", "--now", "--frequency", "monthly", env=env, cwd=tmp_path)
    assert bad.returncode != 0
    assert "hang-ngay" in bad.stderr
    assert "Traceback" not in bad.stderr
    _people(database_url, Frequency.DAILY)
    none = newsletter("digest", "send", "--now", env=env, cwd=tmp_path)
    assert none.stdout.startswith("no digest: no active subscriber chose hang-tuan"), none.stdout
    articles = tmp_path / "tin.json"
    published = (utcnow() - dt.timedelta(hours=1)).isoformat()
    articles.write_text(
        json.dumps([{"url": "https://example.gov.vn/tin/1", "title": "Tin số 1",
                     "published_at": published}]),
        encoding="utf-8",
    )  # fmt: skip
    imported = newsletter("articles", "import", str(articles), env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    sent = newsletter("digest", "send", "--now", "--frequency", "hang-ngay", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("digest #"), sent.stdout
    again = newsletter("digest", "send", "--now", "--frequency", "hang-ngay", env=env, cwd=tmp_path)
    assert "one digest per day" in again.stdout, again.stdout
    engine = create_db_engine(database_url)
    with Session(engine) as s:
        kinds = list(s.scalars(select(Campaign.kind)))
        assert kinds == [CampaignKind.DAILY_DIGEST]  # no alert: nobody reads immediately
        assert s.scalar(select(ArticleBatch.alerted_at)) is not None
    engine.dispose()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_cli_import_starts_one_alert(database_url: str, tmp_path: Path) -> None:
    """`articles import` of three new articles starts one alert to the immediate readers."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    _people(database_url, Frequency.IMMEDIATELY)
    published = (utcnow() - dt.timedelta(hours=1)).isoformat()
    articles = tmp_path / "tin.json"
    articles.write_text(
        json.dumps(
            [
                {"url": f"https://example.gov.vn/tin/{n}", "title": f"Tin số {n}",
                 "published_at": published}
                for n in range(3)
            ]
        ),
        encoding="utf-8",
    )  # fmt: skip
    imported = newsletter("articles", "import", str(articles), env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    engine = create_db_engine(database_url)
    with Session(engine) as s:
        [alert] = list(s.scalars(select(Campaign).where(Campaign.kind == CampaignKind.ALERT)))
        assert len(alert.meta["article_ids"]) == 3
        assert alert.total_count == 2
    engine.dispose()


@pytest.fixture
def runtime(settings_factory: Callable[..., Settings], database_url: str) -> Iterator[Runtime]:
    rt = build_runtime(settings_factory(database_url=database_url))
    with rt.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
        ids = add_subscribers(session, 3, prefix="ngay")
        session.execute(
            update(Subscriber).where(Subscriber.id.in_(ids)).values(frequency=Frequency.IMMEDIATELY)
        )
    yield rt
    rt.close()


def test_push_starts_one_alert_after_its_commit(runtime: Runtime) -> None:
    """A push of two new articles starts one alert (after the answer); a re-push none."""
    with runtime.sessions.begin() as session:
        token = create_api_token(session, name="cms")
    server = WebServer(create_app(runtime.settings, runtime))
    server.start()
    published = (utcnow() - dt.timedelta(hours=1)).isoformat()
    body = [
        {"guid": f"cms-{n}", "url": f"https://example.gov.vn/tin/{n}", "title": f"Tin {n}",
         "category": "thong-bao", "published_at": published}
        for n in range(2)
    ]  # fmt: skip
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            auth = {"Authorization": f"Bearer {token}"}
            assert http.post("/api/v1/articles", json=body, headers=auth).status_code == 200
            assert http.post("/api/v1/articles", json=body, headers=auth).status_code == 200
    finally:
        server.stop()
    with runtime.sessions() as s:
        alerts = list(s.scalars(select(Campaign).where(Campaign.kind == CampaignKind.ALERT)))
        assert len(alerts) == 1
        assert alerts[0].total_count == 3
        assert s.scalar(select(Delivery.id).where(Delivery.campaign_id == alerts[0].id))


# SQLite: the task's own runtime (built inside the worker's process state) is never
# closed by a test, and an open psycopg connection warns when collected.
@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_feed_poll_task_starts_one_alert_per_feed_that_brought_news(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """Beat's poll task: a feed bringing three new items makes one alert; a poll with
    nothing new makes none."""
    settings = settings_factory(database_url=database_url, feed_allow_private=True)
    server = FeedServer()
    server.start()
    app = create_celery(settings)
    runtime = build_runtime(settings)
    try:
        when = format_datetime(utcnow() - dt.timedelta(hours=1))
        url = server.serve(
            "/rss",
            rss(*(rss_item(n, pub_date=when) for n in range(3))).encode(),
            Content_Type="application/rss+xml; charset=utf-8",
        )
        with runtime.sessions.begin() as s:
            add_feed(s, url=url)
            ids = add_subscribers(s, 2, prefix="ngay")
            s.execute(
                update(Subscriber)
                .where(Subscriber.id.in_(ids))
                .values(frequency=Frequency.IMMEDIATELY)
            )
        app.tasks["newsletter.poll_feeds"].run()
        app.tasks["newsletter.poll_feeds"].run()  # the same items again: nothing new
        with runtime.sessions() as s:
            alerts = list(s.scalars(select(Campaign).where(Campaign.kind == CampaignKind.ALERT)))
        assert len(alerts) == 1
        assert len(alerts[0].meta["article_ids"]) == 3
        assert alerts[0].total_count == 2
    finally:
        runtime.close()
        app.close()
        server.stop()
