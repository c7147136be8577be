"""What a digest shows: its articles, grouped by category, for one category set.

Loaded once per composer (campaigns/preview.py reads it from the store); every segment
(set of chosen categories) is then cut from memory. Article text comes from feeds and the
CMS, so it is cleaned here to one-line plain text (`newsletter.sanitize`) and only
http(s) links survive; the templates escape the rest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from newsletter.config import Settings
from newsletter.models import Article
from newsletter.sanitize import is_http_url, one_line, plain_text

SUMMARY_CHARS = 300
# The subject leads with the top headline; past this many characters it is cut at a word.
HEADLINE_CHARS = 80
PREHEADER_CHARS = 150


@dataclass(frozen=True, slots=True)
class DigestItem:
    id: int
    title: str
    url: str | None
    summary: str
    image_url: str | None
    published_at: dt.datetime
    category_id: int | None
    # In the campaign's own list (its window), which a subscriber without a watermark
    # gets; the other items are backlog for subscribers whose watermark is older.
    own: bool = True


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    anchor: str
    items: list[DigestItem]


@dataclass(frozen=True, slots=True)
class SectionCategory:
    id: int
    slug: str
    name: str
    position: int


def safe_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL (sanitize.is_http_url), else None.

    Quotes, angle brackets and DEL are refused too, as an article link never holds them
    unescaped (the templates escape what is kept).
    """
    if not url:
        return None
    url = url.strip()
    if not is_http_url(url) or any(ch in "<>\"'\x7f" for ch in url):
        return None
    return url


def item_from_article(article: Article, *, own: bool = True) -> DigestItem:
    return DigestItem(
        own=own,
        id=article.id,
        # Titles are plain text (the templates escape them); "<" may be meant literally.
        title=one_line(article.title) or "(không tiêu đề)",
        url=safe_url(article.url),
        summary=plain_text(article.summary or "", limit=SUMMARY_CHARS),
        image_url=safe_url(article.image_url),
        published_at=article.published_at,
        category_id=article.category_id,
    )


def date_range(settings: Settings, start: dt.datetime, end: dt.datetime) -> tuple[str, str]:
    """The window as Vietnamese dates in NEWSLETTER_TIMEZONE, e.g. ('21/11/2026', '28/11/2026')."""
    tz = ZoneInfo(settings.timezone)
    return (
        format_date(start.astimezone(tz).date(), "dd/MM/yyyy", locale="vi"),
        format_date(end.astimezone(tz).date(), "dd/MM/yyyy", locale="vi"),
    )


def cut(text: str, limit: int) -> str:
    """`text` (one line) at most `limit` characters, cut at a word boundary with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,.:;–—-") + "…"


def headline_context(titles: list[str], total: int) -> dict[str, Any]:
    """What the subject and the inbox preview say: the top headline, how many others."""
    return {
        "headline": cut(titles[0], HEADLINE_CHARS) if titles else "",
        "others": max(total - 1, 0),
        "preheader": cut(" · ".join(titles[1:] or titles), PREHEADER_CHARS),
    }


class DigestContent:
    """A digest's articles and categories, held in memory for rendering per segment."""

    def __init__(
        self,
        *,
        items: list[DigestItem],
        categories: list[SectionCategory],
        window_start: dt.datetime,
        window_end: dt.datetime,
        edition: str = "Bản tin tuần",
    ) -> None:
        self.items = sorted(items, key=lambda i: (i.published_at, i.id), reverse=True)
        self.categories = sorted(categories, key=lambda c: (c.position, c.id))
        self.window_start = window_start
        self.window_end = window_end
        self.edition = edition  # "Bản tin tuần", "Bản tin ngày", "Tin mới"

    def selected(self, category_ids: frozenset[int], after: int | None = None) -> list[DigestItem]:
        """The items for a subscriber of `category_ids` (empty: every category), newest first.

        `after`: the subscriber's watermark (delivery/watermarks.py): only articles after
        it; None: the campaign's own list.
        """
        items = (
            [i for i in self.items if i.own]
            if after is None
            else [i for i in self.items if i.id > after]
        )
        if not category_ids:
            return items
        return [i for i in items if i.category_id in category_ids]

    def sections(self, items: list[DigestItem]) -> list[Section]:
        by_category: dict[int | None, list[DigestItem]] = {}
        for item in items:
            by_category.setdefault(item.category_id, []).append(item)
        sections = [
            Section(c.name, f"cm-{c.slug}", by_category[c.id])
            for c in self.categories
            if c.id in by_category
        ]
        known = {c.id for c in self.categories}
        others = [i for cid, group in by_category.items() if cid not in known for i in group]
        if others:
            sections.append(Section("Tin khác", "cm-tin-khac", others))
        return sections

    def context(
        self,
        settings: Settings,
        category_ids: frozenset[int],
        *,
        limit: int | None,
        after: int | None = None,
    ) -> dict[str, Any]:
        """Template context for one segment, showing at most `limit` newest articles."""
        items = self.selected(category_ids, after)
        shown = items if limit is None else items[:limit]
        date_from, date_to = date_range(settings, self.window_start, self.window_end)
        return {
            **headline_context([i.title for i in shown[:6]], len(items)),
            "sections": self.sections(shown),
            "shown_count": len(shown),
            "total_count": len(items),
            "date_from": date_from,
            "date_to": date_to,
            "edition": self.edition,
        }
