"""Digest campaigns from the week's new articles; bulletins from an admin's Markdown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns.build import build_digest, create_bulletin, digest_period, plan_digest
from newsletter.content.categories import CategoryError
from newsletter.models import Campaign, CampaignKind, CampaignStatus
from tests.support.composedata import NOW, add_article, add_categories


def test_no_new_article_means_no_digest(session: Session, settings_factory: Any) -> None:
    """Without an article published in the window there is no campaign at all."""
    news, _ = add_categories(session)
    add_article(session, n=1, category=news, hours_ago=24 * 8)  # older than the first window
    assert build_digest(session, settings=settings_factory(), now=NOW) is None
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_first_digest_covers_seven_days_and_freezes_its_articles(
    session: Session, settings_factory: Any
) -> None:
    """The first digest takes the last 7 days, as a draft named by its ISO week."""
    news, _ = add_categories(session)
    recent = add_article(session, n=1, category=news, hours_ago=2)
    older = add_article(session, n=2, category=news, hours_ago=24 * 6)
    add_article(session, n=3, category=news, hours_ago=24 * 7 + 1)
    scheduled = add_article(session, n=4, category=news, hours_ago=-1)  # for later
    campaign = build_digest(session, settings=settings_factory(), now=NOW)
    assert campaign is not None
    assert campaign.kind is CampaignKind.DIGEST
    assert campaign.status is CampaignStatus.DRAFT
    assert campaign.period == "2026-W48"
    assert campaign.window_start == NOW - dt.timedelta(days=7)
    assert campaign.window_end == NOW
    # `upto`: the highest article stored, the bound of what watermarks may add.
    assert campaign.meta == {"article_ids": [recent.id, older.id], "upto": scheduled.id}


def test_digest_is_unique_per_week_and_the_next_starts_where_it_ended(
    session: Session, settings_factory: Any
) -> None:
    """A second build in the same week returns the same campaign; next week's starts at its end."""
    settings = settings_factory()
    news, _ = add_categories(session)
    add_article(session, n=1, category=news, hours_ago=2)
    first = build_digest(session, settings=settings, now=NOW)
    assert first is not None
    assert build_digest(session, settings=settings, now=NOW + dt.timedelta(hours=3)) is first
    later = NOW + dt.timedelta(days=7)
    assert build_digest(session, settings=settings, now=later) is None, "nothing new since"
    fresh = add_article(session, n=2, category=news, hours_ago=-24)
    second = build_digest(session, settings=settings, now=later)
    assert second is not None
    assert second.period == "2026-W49"
    assert second.window_start == NOW
    assert second.meta == {"article_ids": [fresh.id], "upto": fresh.id}


def test_period_is_the_iso_week_in_the_portal_time_zone(settings_factory: Any) -> None:
    """Sunday 20:00 UTC is already Monday in Hà Nội: the next ISO week."""
    sunday_evening_utc = dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC)
    assert digest_period(settings_factory(), sunday_evening_utc) == "2026-W49"
    assert digest_period(settings_factory(timezone="UTC"), sunday_evening_utc) == "2026-W48"


def test_plan_digest_stores_nothing(session: Session, settings_factory: Any) -> None:
    """Planning (what a preview does) leaves the database without a campaign."""
    news, _ = add_categories(session)
    add_article(session, n=1, category=news, hours_ago=2)
    assert plan_digest(session, settings=settings_factory(), now=NOW) is not None
    session.flush()
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_bulletin_keeps_markdown_html_and_text(session: Session) -> None:
    """A bulletin stores its Markdown, sanitised HTML, plain text and target categories."""
    add_categories(session)
    bulletin = create_bulletin(
        session,
        subject="  Cúp nước ngày 30/11  ",
        body_markdown="Khu vực **Phường Hòa Bình**.\r\n\r\n- Từ 8 giờ\n- Đến 17 giờ\n",
        category_slugs=["thong-bao", "tin-tuc"],
        created_by="admin",
    )
    assert bulletin.id is not None
    assert bulletin.kind is CampaignKind.BULLETIN
    assert bulletin.period is None
    assert bulletin.subject == "Cúp nước ngày 30/11"
    assert bulletin.body_html == (
        "<p>Khu vực <strong>Phường Hòa Bình</strong>.</p>\n<ul>\n<li>Từ 8 giờ</li>\n"
        "<li>Đến 17 giờ</li>\n</ul>\n"
    )
    assert bulletin.body_text == "Khu vực Phường Hòa Bình.\n\n- Từ 8 giờ\n- Đến 17 giờ\n"
    assert [c.slug for c in bulletin.categories] == ["tin-tuc", "thong-bao"]


def test_bulletin_with_unknown_category_is_refused(session: Session) -> None:
    """An unknown category slug names itself in the error; nothing is created."""
    add_categories(session)
    with pytest.raises(CategoryError, match="khong-co"):
        create_bulletin(
            session, subject="Tin", body_markdown="x", category_slugs=["khong-co"], created_by="a"
        )
