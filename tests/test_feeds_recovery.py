"""Feeds not quite XML are repaired or read leniently, never lost whole; titles are plain text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.content.feeds import add_feed, poll_feed
from newsletter.content.fetch import FeedError
from newsletter.content.parse import LENIENT_MAX_BYTES, parse_feed
from newsletter.models import Article, Feed
from newsletter.runtime import Runtime, build_runtime
from tests.support.feedserver import FeedServer, rss, rss_item

CORPUS = Path(__file__).parent / "samples" / "feedparser"


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


def poll(runtime: Runtime, url: str) -> tuple[Feed, list[Article]]:
    with runtime.sessions.begin() as session:
        feed_id = add_feed(session, url=url).id
    result = poll_feed(runtime, feed_id=feed_id)
    assert (result.status, result.error) == ("ok", None)
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        articles = list(session.scalars(select(Article).order_by(Article.id)))
        session.expunge_all()
    return feed, articles


def test_one_bare_ampersand_and_one_control_character_lose_nothing(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """25 items with a bare `&` in one link and a `\\x0b` in one title are all stored."""
    items = [rss_item(n) for n in range(1, 26)]
    items[3] = items[3].replace("/tin/4", "/tin/4?a=1&b=2")
    items[7] = items[7].replace("Tin số 8:", "Tin số 8:\x0b")
    url = feed_server.serve("/rss", rss(*items).encode(), Content_Type="application/rss+xml")

    _feed, articles = poll(runtime, url)

    assert len(articles) == 25
    assert articles[3].url == "https://example.gov.vn/tin/4?a=1&b=2"
    assert articles[7].title == "Tin số 8: Thành phố tổ chức lễ hội"


def test_netscape_doctype_is_read_and_never_fetched(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """An RSS 0.91 feed naming an external DTD is read; the DTD's URL is never requested."""
    dtd = feed_server.serve("/rss-0.91.dtd", b'<!ENTITY secret "leaked">')
    body = rss(rss_item(1)).replace(
        '<rss version="2.0">',
        f'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "{dtd}">'
        '<rss version="0.91">',
    )
    url = feed_server.serve("/rss", body.encode())

    _feed, articles = poll(runtime, url)

    assert [a.guid for a in articles] == ["tin-1"]
    assert [path for path, _headers in feed_server.requests] == ["/rss"]


def test_netscape_corpus_file_is_not_refused() -> None:
    """feedparser's RSS 0.91 Netscape sample (a DOCTYPE, no items) is read, not refused."""
    parse_feed((CORPUS / "wellformed/rss/rss_version_091_netscape.xml").read_bytes())


def test_crossed_tags_are_read_leniently() -> None:
    """A stray end tag makes the XML ill-formed; the items around it are still read."""
    body = rss(rss_item(1), "</b>", rss_item(2)).encode()
    parsed = parse_feed(body)
    assert parsed.lenient
    assert [e.guid for e in parsed.entries] == ["tin-1", "tin-2"]


def test_entity_declaration_after_the_first_error_is_still_refused() -> None:
    """Entities hidden after an early syntax error never reach the lenient parser."""
    body = (
        b'<?xml version="1.0"?><rss version="2.0"></b>'
        b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<channel><item><title>&b;</title><link>https://example.gov.vn/1</link></item>"
        b"</channel></rss>"
    )
    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(body)


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be"])
def test_ucs4_corpus_files_are_read(codec: str) -> None:
    """feedparser's UTF-32 / UCS-4 samples (no byte-order mark) are decoded, not refused."""
    name = {"utf-32-le": "encoding/utf-32le.xml", "utf-32-be": "encoding/ucs-4.xml"}[codec]
    parsed = parse_feed((CORPUS / name).read_bytes())
    assert parsed.encoding == codec


def test_titles_are_stored_as_plain_text(feed_server: FeedServer, runtime: Runtime) -> None:
    """Escaped markup in a title is stripped (script with its text); the feed's title too."""
    body = (
        rss(rss_item(1, title="&lt;script&gt;alert(1)&lt;/script&gt;Hội   nghị &amp;amp; lễ"))
        .replace(
            "Cổng thông tin Hoa Sen",
            "&lt;b&gt;Cổng&lt;/b&gt; thông\ttin &lt;img src=x onerror=alert(1)&gt;",
        )
        .encode()
    )
    url = feed_server.serve("/rss", body)

    feed, articles = poll(runtime, url)

    assert [a.title for a in articles] == ["Hội nghị & lễ"]
    assert feed.title == "Cổng thông tin"


def test_lenient_reading_is_bounded_in_size() -> None:
    """An ill-formed document over the lenient limit is refused instead of read slowly."""
    items = [rss_item(n) for n in range(1, 4000)]
    body = rss(*items, "</b>").encode()
    assert len(body) > LENIENT_MAX_BYTES
    with pytest.raises(FeedError, match="too large to read leniently"):
        parse_feed(body)
