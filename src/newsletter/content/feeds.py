"""Feeds: the portal's RSS/Atom sources, polled on a schedule into the article store.

`poll_all_feeds(runtime)` is what the beat task wraps. Each feed is fetched outside
any database transaction (a slow server never holds a SQLite write lock), then stored
in its own transaction: one failing feed records its error and the others go on.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.content.articles import (
    ArticleRejectedError,
    CategoryIndex,
    IngestSummary,
    upsert_article,
)
from newsletter.content.categories import CategoryError, categories_by_slug
from newsletter.content.fetch import FeedError, check_destination, fetch_feed
from newsletter.content.parse import ParsedFeed, parse_feed
from newsletter.models import Feed, utcnow
from newsletter.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 1000
POLL_WORKERS = 4

PollStatus = Literal["ok", "not_modified", "error"]


@dataclass(frozen=True)
class FeedResult:
    """What one poll of one feed did; `error` is also stored as the feed's last_error."""

    feed_id: int
    url: str
    status: PollStatus
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "feed_id": self.feed_id,
            "url": self.url,
            "status": self.status,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "error": self.error,
        }


def add_feed(session: Session, *, url: str, category_slug: str | None = None) -> Feed:
    """Register a feed; raises FeedError for a bad URL, a duplicate or an unknown category."""
    url = url.strip()
    check_destination(url, allow_private=True)  # the address check runs at each poll
    if session.scalar(select(Feed.id).where(Feed.url == url)) is not None:
        raise FeedError(f"feed {url} is already registered")
    category_id = None
    if category_slug:
        try:
            category_id = categories_by_slug(session, [category_slug])[0].id
        except CategoryError as exc:
            raise FeedError(f"{exc} (add it first: newsletter categories add SLUG NAME)") from None
    feed = Feed(url=url, category_id=category_id)
    session.add(feed)
    session.flush()
    return feed


def list_feeds(session: Session) -> list[Feed]:
    return list(session.scalars(select(Feed).order_by(Feed.id)))


def store_entries(
    session: Session, *, feed: Feed, parsed: ParsedFeed, now: dt.datetime
) -> IngestSummary:
    """Upsert every entry of `parsed` under `feed`; bad entries are counted, not fatal."""
    summary = IngestSummary()
    categories = CategoryIndex.load(session)
    for number, entry in enumerate(parsed.entries, start=1):
        try:
            result = upsert_article(
                session,
                article=entry,
                categories=categories,
                default_category_id=feed.category_id,
                feed_id=feed.id,
                now=now,
            )
        except ArticleRejectedError as exc:
            summary.rejected.append((f"entry {number}", str(exc)))
            continue
        summary.count(result.outcome)
    return summary


def _record_error(runtime: Runtime, feed_id: int, message: str, now: dt.datetime) -> None:
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        if feed is not None:
            feed.last_polled_at = now
            feed.last_error = message[:MAX_ERROR_LENGTH]


def poll_feed(runtime: Runtime, *, feed_id: int) -> FeedResult:
    """Fetch, parse and store one feed; a FeedError becomes the stored last_error."""
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise FeedError(f"no feed with id {feed_id}")
        url, etag, last_modified = feed.url, feed.etag, feed.last_modified
    now = utcnow()
    try:
        fetched = fetch_feed(runtime.settings, url=url, etag=etag, last_modified=last_modified)
        parsed = (
            None
            if fetched.body is None
            else parse_feed(
                fetched.body,
                content_type=fetched.content_type,
                base_url=fetched.url,
                timezone=ZoneInfo(runtime.settings.timezone),
            )
        )
    except FeedError as exc:
        log.warning("feed %s failed: %s", url, exc)
        _record_error(runtime, feed_id, str(exc), now)
        return FeedResult(feed_id, url, "error", error=str(exc))

    if parsed is not None and parsed.lenient:
        log.info("feed %s is not well-formed XML even after repairs; read leniently", url)
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        if feed is None:  # deleted while we fetched
            return FeedResult(feed_id, url, "error", error="feed was deleted during the poll")
        feed.last_polled_at = feed.last_success_at = now
        feed.last_error = None
        if parsed is None:
            return FeedResult(feed_id, url, "not_modified")
        feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
        if parsed.title and not feed.title:
            feed.title = parsed.title[:500]
        summary = store_entries(session, feed=feed, parsed=parsed, now=now)
    return FeedResult(
        feed_id,
        url,
        "ok",
        new=summary.new,
        updated=summary.updated,
        unchanged=summary.unchanged,
        rejected=len(summary.rejected),
    )


def _poll_guarded(runtime: Runtime, feed_id: int, url: str) -> FeedResult:
    try:
        return poll_feed(runtime, feed_id=feed_id)
    except Exception as exc:
        # A bug or a database hiccup on one feed must not starve the rest; the
        # failure is recorded on the feed (shown by `feeds list`), not just logged.
        log.exception("unexpected error while polling feed %s", feed_id)
        message = f"internal error while polling: {type(exc).__name__}: {exc}"
        try:
            _record_error(runtime, feed_id, message, utcnow())
        except Exception:
            log.exception("cannot record the error of feed %s", feed_id)
        return FeedResult(feed_id, url, "error", error=message)


def poll_all_feeds(runtime: Runtime, *, workers: int = POLL_WORKERS) -> list[FeedResult]:
    """Poll every feed once; results in feed id order; one failure never stops the others.

    Feeds are fetched `workers` at a time, so a few stalling servers (each bounded by
    NEWSLETTER_FEED_TIMEOUT_SECONDS) cannot push a round past the polling interval.
    """
    with runtime.sessions.begin() as session:
        feeds = [
            (row.id, row.url)
            for row in session.execute(select(Feed.id, Feed.url).order_by(Feed.id))
        ]
    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(feeds)))) as pool:
        return list(pool.map(lambda feed: _poll_guarded(runtime, *feed), feeds))
