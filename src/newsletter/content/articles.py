"""The article store: one upsert for every way in (feeds, the push API, file import).

An article is identified by its guid, else by its URL: re-ingesting the same item
updates the row, never duplicates it. Everything kept is NFC-normalised and every
summary is reduced to a safe HTML subset here (`newsletter.sanitize`), whatever the
source promised.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.content.arrivals import arrival_batch
from newsletter.content.dates import parse_date
from newsletter.models import Article, Category, utcnow
from newsletter.sanitize import is_http_url, plain_text, sanitize_html

MAX_URL = 2000
MAX_TITLE = 1000
MAX_AUTHOR = 300


class ArticleRejectedError(ValueError):
    """An article cannot be stored; the message says which field is wrong and why."""


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ArticleInput:
    """An article as a source gave it, before cleaning. `summary` is HTML."""

    url: str
    title: str
    guid: str | None = None
    summary: str = ""
    image_url: str | None = None
    author: str | None = None
    categories: tuple[str, ...] = ()
    published_at: dt.datetime | None = None


@dataclass(frozen=True)
class UpsertResult:
    article_id: int
    guid: str
    outcome: Outcome


@dataclass
class IngestSummary:
    """Counts of one batch; `rejected` holds (where, reason) pairs for the report."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    def as_dict(self) -> dict[str, object]:
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"item": where, "reason": why} for where, why in self.rejected],
        }


# --- cleaning -----------------------------------------------------------------------------


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def parse_datetime(value: object, *, timezone: ZoneInfo) -> dt.datetime | None:
    """A date in a form `content.dates` reads (or a datetime) as aware UTC; naive is `timezone`."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=timezone)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ArticleRejectedError(f"published_at {value} is out of range") from None
    if not isinstance(value, str):
        raise ArticleRejectedError(f"published_at must be text, not {type(value).__name__}")
    moment = parse_date(value, timezone=timezone)
    if moment is None:
        raise ArticleRejectedError(
            f"published_at {value.strip()!r} is not a date: use ISO 8601 "
            "(2026-11-20T08:00:00+07:00), RFC 2822 or dd/mm/yyyy HH:MM"
        )
    return moment


@dataclass(frozen=True)
class _Clean:
    guid: str | None
    url: str
    title: str
    summary: str
    image_url: str | None
    author: str | None


def _clean(article: ArticleInput) -> _Clean:
    url = nfc(article.url.strip())
    if not is_http_url(url):
        raise ArticleRejectedError(f"url {article.url!r} is not an absolute http(s) URL")
    if len(url) > MAX_URL:
        raise ArticleRejectedError(f"url is longer than {MAX_URL} characters")
    guid = nfc(article.guid.strip()) if article.guid and article.guid.strip() else None
    if guid is not None and len(guid) > MAX_URL:
        raise ArticleRejectedError(f"guid is longer than {MAX_URL} characters")
    title = plain_text(article.title)
    if not title:
        raise ArticleRejectedError("title is empty")
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1] + "…"
    image = article.image_url.strip() if article.image_url else None
    author = plain_text(article.author)[:MAX_AUTHOR] if article.author else None
    return _Clean(
        guid=guid,
        url=url,
        title=title,
        summary=sanitize_html(article.summary or ""),
        image_url=image if image and is_http_url(image) and len(image) <= MAX_URL else None,
        author=author or None,
    )


# --- categories ---------------------------------------------------------------------------


class CategoryIndex:
    """Our categories, looked up by slug or by case-insensitive NFC name."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_slug: dict[str, int] = {}
        self._by_name: dict[str, int] = {}
        for category in categories:
            self._by_slug[category.slug.lower()] = category.id
            self._by_name.setdefault(nfc(category.name).strip().casefold(), category.id)

    @classmethod
    def load(cls, session: Session) -> CategoryIndex:
        return cls(session.scalars(select(Category)))

    def match(self, labels: Iterable[str]) -> int | None:
        """The first label naming one of our categories, else None."""
        for label in labels:
            key = nfc(label).strip()
            found = self._by_slug.get(key.lower()) or self._by_name.get(key.casefold())
            if found is not None:
                return found
        return None


# --- the upsert ---------------------------------------------------------------------------


def find_article(session: Session, *, guid: str | None, url: str) -> Article | None:
    """The stored article for this guid; without a guid, the one with this URL."""
    if guid is not None:
        return session.scalar(select(Article).where(Article.guid == guid))
    return session.scalar(
        select(Article).where(Article.url == url).order_by(Article.guid != url, Article.id).limit(1)
    )


def upsert_article(
    session: Session,
    *,
    article: ArticleInput,
    categories: CategoryIndex,
    default_category_id: int | None = None,
    feed_id: int | None = None,
    now: dt.datetime | None = None,
) -> UpsertResult:
    """Store `article`, or update the stored one with the same guid (else URL).

    Raises ArticleRejectedError when a field cannot be kept. An entry without a date gets the
    time it was first seen; a re-push without a date keeps the stored date.
    """
    clean = _clean(article)
    category_id = categories.match(article.categories) or default_category_id
    existing = find_article(session, guid=clean.guid, url=clean.url)
    if existing is None:
        fresh = Article(
            guid=clean.guid or clean.url,
            url=clean.url,
            title=clean.title,
            summary=clean.summary,
            image_url=clean.image_url,
            author=clean.author,
            category_id=category_id,
            feed_id=feed_id,
            published_at=article.published_at or now or utcnow(),
            batch_id=arrival_batch(session, now=now),
        )
        try:
            # A savepoint, so losing a race with a concurrent ingest of the same guid
            # (unique violation) turns into an update instead of failing the batch.
            with session.begin_nested():
                session.add(fresh)
        except IntegrityError:
            existing = find_article(session, guid=clean.guid, url=clean.url)
            if existing is None:
                raise
        else:
            return UpsertResult(fresh.id, fresh.guid, Outcome.NEW)

    changes: dict[str, object] = {
        "url": clean.url,
        "title": clean.title,
        "summary": clean.summary,
        "image_url": clean.image_url,
        "author": clean.author,
    }
    if category_id is not None:
        changes["category_id"] = category_id
    if article.published_at is not None:
        changes["published_at"] = article.published_at
    if feed_id is not None and existing.feed_id is None:
        changes["feed_id"] = feed_id
    changed = {key: value for key, value in changes.items() if getattr(existing, key) != value}
    for key, value in changed.items():
        setattr(existing, key, value)
    session.flush()
    return UpsertResult(
        existing.id, existing.guid, Outcome.UPDATED if changed else Outcome.UNCHANGED
    )


# --- mappings (JSON, CSV, the API) --------------------------------------------------------


def _text(data: Mapping[str, object], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str | int):
            raise ArticleRejectedError(f"{key} must be text, not {type(value).__name__}")
        return str(value)
    return None


def article_from_mapping(data: Mapping[str, object], *, timezone: ZoneInfo) -> ArticleInput:
    """An ArticleInput from a JSON object or CSV row (field names as in the API)."""
    url = _text(data, "url", "link")
    if url is None:
        raise ArticleRejectedError("url is missing")
    title = _text(data, "title")
    if title is None:
        raise ArticleRejectedError("title is missing")
    labels: list[str] = []
    raw_categories = data.get("categories")
    if isinstance(raw_categories, list):
        labels.extend(str(item) for item in raw_categories if isinstance(item, str | int))
    elif raw_categories:
        raise ArticleRejectedError("categories must be a list of slugs or names")
    single = _text(data, "category")
    if single:
        labels.insert(0, single)
    return ArticleInput(
        guid=_text(data, "guid", "id"),
        url=url,
        title=title,
        summary=_text(data, "summary", "description") or "",
        image_url=_text(data, "image_url", "image"),
        author=_text(data, "author"),
        categories=tuple(labels),
        published_at=parse_datetime(
            data.get("published_at") or data.get("published") or None, timezone=timezone
        ),
    )
