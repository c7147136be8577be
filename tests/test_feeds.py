"""Feed polling against a real local HTTP server: storage, conditional GET, isolation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.content.categories import add_category
from newsletter.content.feeds import add_feed, poll_all_feeds, poll_feed
from newsletter.content.fetch import FeedError
from newsletter.models import Article, Category, Feed
from newsletter.runtime import Runtime, build_runtime
from tests.support.feedserver import FeedServer, rss, rss_item


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on 127.0.0.1 (port 0) serving the test's feeds."""
    server = FeedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def runtime(settings_factory: Callable[..., Settings], database_url: str) -> Iterator[Runtime]:
    """A runtime on a fresh database that may reach the loopback feed server."""
    rt = build_runtime(settings_factory(database_url=database_url, feed_allow_private=True))
    yield rt
    rt.close()


def register(runtime: Runtime, url: str, category: str | None = None) -> int:
    with runtime.sessions.begin() as session:
        if category and session.scalar(select(Category).where(Category.slug == category)) is None:
            add_category(session, slug=category, name="Tin tức")
        return add_feed(session, url=url, category_slug=category).id


def article_count(runtime: Runtime) -> int:
    with runtime.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def stored_feed(runtime: Runtime, feed_id: int) -> Feed:
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        return feed


def test_poll_stores_entries_and_maps_categories(feed_server: FeedServer, runtime: Runtime) -> None:
    """Entries land in the store; an entry's category is matched by name, else the feed's."""
    with runtime.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
    url = feed_server.serve(
        "/rss",
        rss(rss_item(1, category="THÔNG BÁO"), rss_item(2, category="Khác")).encode(),
        Content_Type="application/rss+xml; charset=utf-8",
    )
    feed_id = register(runtime, url, category="tin-tuc")

    result = poll_feed(runtime, feed_id=feed_id)

    assert (result.status, result.new, result.error) == ("ok", 2, None)
    with runtime.sessions.begin() as session:
        slugs = {
            a.guid: a.category.slug if a.category else None
            for a in session.scalars(select(Article))
        }
    assert slugs == {"tin-1": "thong-bao", "tin-2": "tin-tuc"}
    feed = stored_feed(runtime, feed_id)
    assert feed.last_success_at is not None
    assert feed.last_error is None
    assert feed.title == "Cổng thông tin Hoa Sen"


def test_conditional_get_uses_etag_and_last_modified(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """The second poll sends If-None-Match/If-Modified-Since; a 304 changes nothing."""
    lm = "Fri, 27 Nov 2026 01:00:00 GMT"
    url = feed_server.serve("/rss", rss(rss_item(1)).encode(), ETag='"v1"', Last_Modified=lm)
    feed_id = register(runtime, url)
    assert poll_feed(runtime, feed_id=feed_id).new == 1

    def not_modified(handler: BaseHTTPRequestHandler, _server: FeedServer) -> None:
        handler.send_response(304)
        handler.end_headers()

    feed_server.handle("/rss", not_modified)
    result = poll_feed(runtime, feed_id=feed_id)

    assert result.status == "not_modified"
    _path, headers = feed_server.requests[-1]
    assert headers["if-none-match"] == '"v1"'
    assert headers["if-modified-since"] == lm
    assert article_count(runtime) == 1
    assert stored_feed(runtime, feed_id).etag == '"v1"'


def test_repolling_the_same_feed_never_duplicates(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """A server without validators re-sends everything: the articles are updated, not added."""
    url = feed_server.serve("/rss", rss(rss_item(1), rss_item(2, guid=False)).encode())
    feed_id = register(runtime, url)
    assert poll_feed(runtime, feed_id=feed_id).new == 2

    feed_server.serve(
        "/rss", rss(rss_item(1, title="Tin số 1 (cập nhật)"), rss_item(2, guid=False)).encode()
    )
    again = poll_feed(runtime, feed_id=feed_id)

    assert (again.new, again.updated, again.unchanged) == (0, 1, 1)
    assert article_count(runtime) == 2
    with runtime.sessions.begin() as session:
        titles = set(session.scalars(select(Article.title)))
    assert "Tin số 1 (cập nhật)" in titles


def test_one_failing_feed_never_stops_the_others(feed_server: FeedServer, runtime: Runtime) -> None:
    """A feed answering 500 records its error; the next feed is still polled and stored."""
    broken = register(runtime, feed_server.serve("/broken", b"oops", status=500))
    good = register(runtime, feed_server.serve("/good", rss(rss_item(7)).encode()))

    results = {r.feed_id: r for r in poll_all_feeds(runtime)}

    assert results[broken].status == "error"
    assert "HTTP 500" in (results[broken].error or "")
    assert (results[good].status, results[good].new) == ("ok", 1)
    assert "HTTP 500" in (stored_feed(runtime, broken).last_error or "")
    assert stored_feed(runtime, broken).last_success_at is None


def test_error_is_cleared_by_the_next_success(feed_server: FeedServer, runtime: Runtime) -> None:
    """A feed that recovers shows no stale error and a fresh last success."""
    url = feed_server.serve("/rss", b"", status=503)
    feed_id = register(runtime, url)
    assert poll_feed(runtime, feed_id=feed_id).status == "error"
    feed_server.serve("/rss", rss(rss_item(1)).encode())

    assert poll_feed(runtime, feed_id=feed_id).status == "ok"
    feed = stored_feed(runtime, feed_id)
    assert feed.last_error is None
    assert feed.last_success_at is not None


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_redirects_are_followed_up_to_the_limit(
    feed_server: FeedServer, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """One redirect is followed; a redirect loop ends with a clear error."""
    settings = settings_factory(
        database_url=database_url, feed_allow_private=True, feed_max_redirects=2
    )
    rt = build_runtime(settings)
    try:
        feed_server.serve("/real", rss(rss_item(1)).encode())
        moved = register(rt, feed_server.serve("/moved", b"", status=301, Location="/real"))
        looping = register(rt, feed_server.serve("/loop", b"", status=302, Location="/loop"))

        results = {r.feed_id: r for r in poll_all_feeds(rt)}
    finally:
        rt.close()
    assert (results[moved].status, results[moved].new) == ("ok", 1)
    assert "more than 2 redirects" in (results[looping].error or "")


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_loopback_feeds_are_refused_by_default(
    feed_server: FeedServer, settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """Without NEWSLETTER_FEED_ALLOW_PRIVATE, a feed on 127.0.0.1 is refused, not fetched."""
    rt = build_runtime(settings_factory(database_url=database_url))
    try:
        feed_id = register(rt, feed_server.serve("/rss", rss(rss_item(1)).encode()))
        result = poll_feed(rt, feed_id=feed_id)
    finally:
        rt.close()
    assert result.status == "error"
    assert "NEWSLETTER_FEED_ALLOW_PRIVATE" in (result.error or "")
    assert feed_server.requests == []


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_add_feed_refuses_duplicates_and_unknown_categories(runtime: Runtime) -> None:
    """Registering a feed twice, or under an unknown category, fails with a clear message."""
    with runtime.sessions.begin() as session:
        add_feed(session, url="https://example.gov.vn/rss")
    with runtime.sessions.begin() as session, pytest.raises(FeedError, match="already"):
        add_feed(session, url="https://example.gov.vn/rss")
    with runtime.sessions.begin() as session, pytest.raises(FeedError, match="unknown categor"):
        add_feed(session, url="https://example.gov.vn/other", category_slug="khong-co")
    with runtime.sessions.begin() as session, pytest.raises(FeedError, match="http"):
        add_feed(session, url="file:///etc/passwd")
