"""Demo content so a newcomer's first `make run` shows a real digest (fictional city)."""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.categories import add_category
from newsletter.models import Category

DEMO_CATEGORIES = (
    ("tin-tuc", "Tin tức"),
    ("thong-bao", "Thông báo"),
    ("kinh-te-xa-hoi", "Kinh tế – Xã hội"),
    ("van-hoa-xa-hoi", "Văn hóa – Xã hội"),
)


def demo_feed_bytes() -> bytes:
    return files("newsletter.content.demo").joinpath("demo-feed.xml").read_bytes()


def ensure_demo_categories(session: Session) -> list[str]:
    """Add the demo categories that are missing; returns the slugs added."""
    existing = set(session.scalars(select(Category.slug)))
    added = []
    for slug, name in DEMO_CATEGORIES:
        if slug not in existing:
            add_category(session, slug=slug, name=name)
            added.append(slug)
    return added
