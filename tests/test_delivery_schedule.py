"""The weekly digest's period: one digest per schedule slot, built from new articles only."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import Article, Campaign, CampaignKind
from newsletter.runtime import build_runtime
from newsletter.schedule import create_digest, current_slot, period_key

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=HCM)  # type: ignore[misc]


def add_article(session: Session, guid: str, published: dt.datetime) -> None:
    session.add(
        Article(guid=guid, url=f"https://example.gov.vn/{guid}", title=f"Tin {guid}",
                published_at=published)
    )  # fmt: skip
    session.flush()


def test_slot_is_the_latest_firing_in_the_local_timezone(
    settings_factory: Callable[..., Settings],
) -> None:
    """Monday 07:00 in Asia/Ho_Chi_Minh: the slot is the last Monday 07:00 at or before now."""
    settings = settings_factory(digest_schedule="0 7 * * mon")
    assert current_slot(settings, local(2026, 11, 25, 10, 0)) == local(2026, 11, 23, 7, 0)
    assert current_slot(settings, local(2026, 11, 23, 7, 0)) == local(2026, 11, 23, 7, 0)
    assert current_slot(settings, local(2026, 11, 23, 6, 59)) == local(2026, 11, 16, 7, 0)
    # 23:30 UTC on Sunday is already Monday 06:30 in Vietnam: still last week's slot.
    sunday_utc = dt.datetime(2026, 11, 22, 23, 30, tzinfo=dt.UTC)
    assert period_key(current_slot(settings, sunday_utc)) == "2026-11-16T07:00"


def test_one_digest_per_period_from_new_articles_only(
    session: Session, settings_factory: Callable[..., Settings]
) -> None:
    """No article → no digest; a re-run in the same slot → none; next slot → only newer ones."""
    settings = settings_factory()
    monday = local(2026, 11, 23, 7, 0, 5)
    assert create_digest(session, settings=settings, now=monday) is None
    add_article(session, "a1", local(2026, 11, 20, 9, 0))
    first = create_digest(session, settings=settings, now=monday)
    assert first is not None
    assert (first.kind, first.period) == (CampaignKind.DIGEST, "2026-11-23T07:00")
    assert "Tin a1" in (first.body_text or "")
    assert create_digest(session, settings=settings, now=monday + dt.timedelta(hours=3)) is None
    next_monday = monday + dt.timedelta(days=7)
    assert create_digest(session, settings=settings, now=next_monday) is None  # nothing new
    add_article(session, "a2", local(2026, 11, 27, 9, 0))
    second = create_digest(session, settings=settings, now=next_monday + dt.timedelta(minutes=1))
    assert second is not None
    assert second.window_start == first.window_end
    assert "Tin a2" in (second.body_text or "")
    assert "Tin a1" not in (second.body_text or "")


def test_two_beats_at_once_make_one_digest(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """Two schedulers building the same period concurrently leave exactly one digest."""
    runtime = build_runtime(settings_factory(database_url=database_url))
    try:
        with runtime.sessions.begin() as s:
            add_article(s, "b1", local(2026, 11, 20, 9, 0))
        barrier = threading.Barrier(2)
        made: list[int | None] = []
        now = local(2026, 11, 23, 7, 0, 1)

        def beat() -> None:
            barrier.wait()
            with runtime.sessions.begin() as s:
                campaign = create_digest(s, settings=runtime.settings, now=now)
                made.append(campaign.id if campaign else None)

        threads = [threading.Thread(target=beat) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with runtime.sessions() as s:
            count = s.scalar(select(func.count()).select_from(Campaign))
        assert count == 1
        assert sorted(made, key=lambda x: x is None)[1] is None
    finally:
        runtime.close()


@pytest.mark.parametrize("schedule", ["every monday", "0 7 * *"])
def test_bad_schedule_is_refused_with_a_clear_message(
    settings_factory: Callable[..., Settings], schedule: str
) -> None:
    """A schedule that is not cron names the setting and shows an example."""
    from newsletter.schedule import ScheduleError

    with pytest.raises(ScheduleError, match="NEWSLETTER_DIGEST_SCHEDULE"):
        current_slot(settings_factory(digest_schedule=schedule), local(2026, 11, 23, 7, 0))
