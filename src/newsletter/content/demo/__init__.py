"""Demo content so a newcomer's first `make run` shows a real digest (fictional city)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from importlib.resources import files
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.categories import add_category
from newsletter.content.file_import import Record, records_from_bytes
from newsletter.models import Category

DEMO_CATEGORIES = (
    ("tin-tuc", "Tin tức"),
    ("thong-bao", "Thông báo"),
    ("kinh-te-xa-hoi", "Kinh tế – Xã hội"),
    ("van-hoa-xa-hoi", "Văn hóa – Xã hội"),
)


def demo_feed_bytes() -> bytes:
    return files("newsletter.content.demo").joinpath("demo-feed.xml").read_bytes()


def demo_records(*, timezone: ZoneInfo, now: dt.datetime) -> list[Record]:
    """The demo feed's articles, moved in time so that the newest was published at `now`.

    The feed is written with dates in one week; a digest gathers what is new since the
    last one (a week back for the first), so demo articles kept at their written dates
    would give no digest a week later. Every date moves by the same amount: their order
    and spacing (all within six and a half days, inside a first digest's seven) stay.
    """
    records = records_from_bytes(demo_feed_bytes(), kind="feed", timezone=timezone)
    dates = [r.article.published_at for r in records if r.article and r.article.published_at]
    if not dates:
        return records
    shift = now.replace(microsecond=0) - max(dates)
    return [
        replace(r, article=replace(r.article, published_at=r.article.published_at + shift))
        if r.article is not None and r.article.published_at is not None
        else r
        for r in records
    ]


def ensure_demo_categories(session: Session) -> list[str]:
    """Add the demo categories that are missing; returns the slugs added."""
    existing = set(session.scalars(select(Category.slug)))
    added = []
    for slug, name in DEMO_CATEGORIES:
        if slug not in existing:
            add_category(session, slug=slug, name=name)
            added.append(slug)
    return added
