"""A newcomer's digest: the demo gives one on any date, and "no digest" says which reason holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns.build import NoDigest, NoDigestReason, plan_digest
from newsletter.config import Settings
from newsletter.content.demo import demo_records, ensure_demo_categories
from newsletter.content.file_import import import_records
from newsletter.db import create_db_engine
from newsletter.models import Article, Campaign, utcnow
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import create_celery
from newsletter.tasks.enqueue import start_digest
from tests.support.ledger import add_subscribers
from tests.test_cli import newsletter

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize("days_ahead", [0, 365])
def test_demo_import_gives_a_full_digest_on_any_date(
    session: Session, settings_factory: Callable[..., Settings], days_ahead: int
) -> None:
    """Imported today or a year from now, every demo article is in the next digest."""
    imported_at = utcnow() + dt.timedelta(days=days_ahead)
    ensure_demo_categories(session)
    summary = import_records(session, records=demo_records(timezone=HCM, now=imported_at))
    assert summary.new == 12
    assert not summary.rejected
    plan = plan_digest(
        session, settings=settings_factory(), now=imported_at + dt.timedelta(minutes=1)
    )
    assert plan is not None
    assert len(plan.meta["article_ids"]) == 12
    newest = session.scalar(select(func.max(Article.published_at)))
    assert newest is not None
    assert abs(newest.replace(tzinfo=dt.UTC) - imported_at) < dt.timedelta(seconds=1)


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


def add_article(runtime: Runtime, guid: str, published: dt.datetime) -> None:
    with runtime.sessions.begin() as s:
        s.add(Article(guid=guid, url=f"https://example.gov.vn/{guid}", title=f"Tin {guid}",
                      published_at=published))  # fmt: skip


def add_active(runtime: Runtime, count: int = 2) -> None:
    with runtime.sessions.begin() as s:
        add_subscribers(s, count)


def campaigns(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Campaign)) or 0)


NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=HCM)  # a Wednesday


def test_nothing_new_names_the_date_and_what_to_do(runtime: Runtime, celery_app: Celery) -> None:
    """With subscribers but no article in the window: "nothing new since <date>", how to add."""
    add_active(runtime)
    add_article(runtime, "old", NOW - dt.timedelta(days=30))
    outcome = start_digest(celery_app, runtime, now=NOW)
    assert isinstance(outcome, NoDigest)
    assert outcome.reason is NoDigestReason.NOTHING_NEW
    assert outcome.message.startswith("nothing new since 2026-11-25 10:00")
    assert "looks back 7 days" in outcome.message
    assert "newsletter articles import" in outcome.message
    assert campaigns(runtime) == 0


def test_no_active_subscriber_builds_no_digest(runtime: Runtime, celery_app: Celery) -> None:
    """Articles but nobody active: no campaign takes the period, and the reason says so."""
    add_article(runtime, "a", NOW - dt.timedelta(days=1))
    outcome = start_digest(celery_app, runtime, now=NOW)
    assert isinstance(outcome, NoDigest)
    assert outcome.reason is NoDigestReason.NO_SUBSCRIBER
    assert "newsletter outbox" in outcome.message
    assert campaigns(runtime) == 0
    add_active(runtime)
    assert isinstance(start_digest(celery_app, runtime, now=NOW), int), "the period is free"


def test_period_made_names_the_digest_then_nothing_new_since_its_window(
    runtime: Runtime, celery_app: Celery
) -> None:
    """A second send that week names digest #N and its status; next week, its window's end."""
    add_active(runtime)
    add_article(runtime, "a", NOW - dt.timedelta(days=1))
    first = start_digest(celery_app, runtime, now=NOW)
    assert isinstance(first, int)
    again = start_digest(celery_app, runtime, now=NOW + dt.timedelta(hours=2))
    assert isinstance(again, NoDigest)
    assert again.reason is NoDigestReason.PERIOD_MADE
    assert again.campaign_id == first
    assert f"digest #{first} (status sending)" in again.message
    assert "next period begins on 2026-12-07" in again.message
    next_week = NOW + dt.timedelta(days=7)
    later = start_digest(celery_app, runtime, now=next_week)
    assert isinstance(later, NoDigest)
    assert later.reason is NoDigestReason.NOTHING_NEW
    assert later.message.startswith("nothing new since 2026-12-02 10:00")
    assert f"digest #{first}'s window" in later.message


def test_cli_says_the_reason(database_url: str, tmp_path: Path) -> None:
    """`digest send --now` and `digest preview` print the reason, not a guess."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    sent = newsletter("digest", "send", "--now", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("no digest: no active subscriber"), sent.stdout
    engine = create_db_engine(database_url)
    with Session(engine) as s, s.begin():
        add_subscribers(s, 1, prefix="an")
    engine.dispose()
    sent = newsletter("digest", "send", "--now", env=env, cwd=tmp_path)
    assert sent.stdout.startswith("no digest: nothing new since"), sent.stdout
    shown = newsletter("digest", "preview", "--email", "an00000@example.vn", env=env, cwd=tmp_path)
    assert shown.returncode == 1
    assert "no digest to preview: nothing new since" in shown.stderr
    assert "Traceback" not in shown.stderr
