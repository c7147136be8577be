"""Bad feeds: each ends as a clear stored error, in bounded time and
memory, and never loses the articles already stored. Served by a real local HTTP server."""

from __future__ import annotations

import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.content.feeds import add_feed, poll_all_feeds, poll_feed
from newsletter.models import Article, Feed
from newsletter.runtime import Runtime, build_runtime
from tests.support.feedserver import FeedServer, rss, rss_item

# These cases are about HTTP and parsing, not the database: one backend is enough.
pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

TONES = "\u0300\u0301\u0303\u0309\u0323"

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss ['
    '<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + ']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>'
)

EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    '<rss version="2.0"><channel><title>x</title><item><title>&secret;</title>'
    "<link>https://example.gov.vn/x</link></item></channel></rss>"
)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on 127.0.0.1 (port 0) serving the test's feeds."""
    server = FeedServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def runtime(settings_factory: Callable[..., Settings], database_url: str) -> Iterator[Runtime]:
    """A runtime whose feeds may be on loopback, with a short timeout for stalling servers."""
    settings = settings_factory(
        database_url=database_url,
        feed_allow_private=True,
        feed_timeout_seconds=1,
        feed_max_bytes=2 * 1024 * 1024,
    )
    rt = build_runtime(settings)
    yield rt
    rt.close()


def to_windows_1258(text: str) -> bytes:
    """Encode Vietnamese as Windows-1258 does: base letter, then a combining tone mark."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        marks = parts[1:]
        base = unicodedata.normalize("NFC", parts[0] + "".join(m for m in marks if m not in TONES))
        out += (base + "".join(m for m in marks if m in TONES)).encode("cp1258")
    return bytes(out)


def poll_after_good_content(feed_server: FeedServer, runtime: Runtime, bad: object) -> Feed:
    """Store one good article from /feed, then serve `bad` there and poll again."""
    feed_server.serve("/feed", rss(rss_item(1)).encode())
    with runtime.sessions.begin() as session:
        feed_id = add_feed(session, url=feed_server.url("/feed")).id
    assert poll_feed(runtime, feed_id=feed_id).new == 1
    if isinstance(bad, bytes):
        feed_server.serve("/feed", bad, Content_Type="application/rss+xml")
    else:
        feed_server.handle("/feed", bad)  # type: ignore[arg-type]
    result = poll_feed(runtime, feed_id=feed_id)
    assert result.status == "error"
    with runtime.sessions.begin() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        assert feed.last_error == result.error
        assert feed.last_success_at is not None
        assert session.scalars(select(Article.guid)).all() == ["tin-1"]
        return feed


def test_malformed_xml_is_a_stored_error(feed_server: FeedServer, runtime: Runtime) -> None:
    """A truncated document is refused with its line and column; stored articles stay."""
    feed = poll_after_good_content(feed_server, runtime, rss(rss_item(2)).encode()[:-20])
    assert "not well-formed XML (line 1" in (feed.last_error or "")


def test_billion_laughs_is_refused(feed_server: FeedServer, runtime: Runtime) -> None:
    """Nested entity declarations are refused before any expansion happens."""
    feed = poll_after_good_content(feed_server, runtime, BILLION_LAUGHS.encode())
    assert "declares XML entities" in (feed.last_error or "")


def test_external_entity_is_refused(feed_server: FeedServer, runtime: Runtime) -> None:
    """An entity pointing at a local file is refused; nothing of the file is stored."""
    feed = poll_after_good_content(feed_server, runtime, EXTERNAL_ENTITY.encode())
    assert "declares XML entities" in (feed.last_error or "")


def test_fifty_megabyte_feed_is_aborted_past_the_cap(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """A 50 MB body without Content-Length is streamed only up to the cap, then dropped."""
    chunk = rss_item(3).encode() * 200  # about 40 KB, written again and again

    def huge(handler: BaseHTTPRequestHandler, _server: FeedServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.end_headers()
        handler.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        sent = 0
        while sent < 50 * 1024 * 1024:
            handler.wfile.write(chunk)
            sent += len(chunk)

    feed = poll_after_good_content(feed_server, runtime, huge)
    assert "larger than the limit of 2097152 bytes" in (feed.last_error or "")


def test_declared_oversize_is_refused_before_download(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """A Content-Length above the cap is refused without reading the body."""

    def declared(handler: BaseHTTPRequestHandler, _server: FeedServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(50 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"<rss>")

    feed = poll_after_good_content(feed_server, runtime, declared)
    assert "52428800 bytes, more than the limit" in (feed.last_error or "")


def test_server_that_never_answers_times_out(feed_server: FeedServer, runtime: Runtime) -> None:
    """A server that accepts the request and then says nothing ends as a timeout error."""

    def silent(_handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
        server.release.wait(60)

    feed = poll_after_good_content(feed_server, runtime, silent)
    assert "did not answer within 1 s" in (feed.last_error or "")


def test_server_that_trickles_forever_is_cut_off(feed_server: FeedServer, runtime: Runtime) -> None:
    """A server sending a byte now and then (never idle long enough to time out) is cut off."""

    def trickle(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(b"<rss>")
        while not server.release.wait(0.2):
            handler.wfile.write(b" ")
            handler.wfile.flush()

    feed = poll_after_good_content(feed_server, runtime, trickle)
    error = feed.last_error or ""
    assert "too slow" in error or "did not answer" in error


def test_server_that_trickles_its_headers_is_cut_off_at_the_deadline(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """The timeout is a deadline for the whole fetch: headers trickled a byte per 0.2 s for
    6 s (each read well inside the 1 s timeout) end as a timeout, not as a stored feed."""
    finished = threading.Event()

    def trickle_headers(handler: BaseHTTPRequestHandler, server: FeedServer) -> None:
        body = rss(rss_item(2)).encode()
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(30):
            if server.release.wait(0.2):
                return
            handler.wfile.write(b"a")
            handler.wfile.flush()
        head = f"\r\nContent-Length: {len(body)}\r\nContent-Type: application/rss+xml\r\n\r\n"
        handler.wfile.write(head.encode() + body)
        finished.set()

    feed = poll_after_good_content(feed_server, runtime, trickle_headers)
    assert "did not answer within 1 s" in (feed.last_error or "")
    assert not finished.is_set()  # the client hung up before the server was done


def test_html_page_is_not_a_feed(feed_server: FeedServer, runtime: Runtime) -> None:
    """A well-formed page that is not RSS/Atom gets a clear error, not an empty success."""
    page = "<html><head><title>Trang chủ</title></head><body>Xin chào</body></html>".encode()
    feed = poll_after_good_content(feed_server, runtime, page)
    assert "not an RSS or Atom feed" in (feed.last_error or "")


TITLE = "Thành phố tổ chức lễ hội đường phố cuối tuần"


def poll_titles(
    feed_server: FeedServer, runtime: Runtime, body: bytes, **headers: str
) -> list[str]:
    url = feed_server.serve("/enc", body, **headers)
    with runtime.sessions.begin() as session:
        feed_id = add_feed(session, url=url).id
    result = poll_all_feeds(runtime)[0]
    assert (result.status, result.error) == ("ok", None)
    with runtime.sessions.begin() as session:
        return list(session.scalars(select(Article.title).where(Article.feed_id == feed_id)))


def test_windows_1258_served_as_utf8_is_read_correctly(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """A Windows-1258 feed whose HTTP header claims UTF-8 is decoded by its declaration, in NFC."""
    body = to_windows_1258(rss(rss_item(1, title=TITLE), encoding="windows-1258"))
    assert body.decode("cp1258") != TITLE  # decomposed tones: the bytes really are legacy

    titles = poll_titles(feed_server, runtime, body, Content_Type="text/xml; charset=utf-8")

    assert titles == [TITLE]
    assert unicodedata.is_normalized("NFC", titles[0])


def test_windows_1258_labelled_utf8_everywhere_falls_back(
    feed_server: FeedServer, runtime: Runtime
) -> None:
    """Windows-1258 bytes declared UTF-8 in both HTTP and XML are still read as Vietnamese."""
    body = to_windows_1258(rss(rss_item(1, title=TITLE), encoding="utf-8"))
    titles = poll_titles(feed_server, runtime, body, Content_Type="text/xml; charset=utf-8")
    assert titles == [TITLE]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_labelled_utf8_is_read_correctly(
    feed_server: FeedServer, runtime: Runtime, codec: str
) -> None:
    """A UTF-16 feed (with or without BOM) labelled UTF-8 in HTTP and XML is still read."""
    body = rss(rss_item(1, title=TITLE), encoding="utf-8").encode(codec)
    titles = poll_titles(feed_server, runtime, body, Content_Type="application/xml; charset=utf-8")
    assert titles == [TITLE]


def gzip_stream(body: bytes, repeat: int) -> Iterator[bytes]:
    compressor = zlib.compressobj(wbits=zlib.MAX_WBITS | 16)
    for _ in range(repeat):
        yield compressor.compress(body)
    yield compressor.flush()


def test_gzip_bomb_is_stopped_at_the_cap(feed_server: FeedServer, runtime: Runtime) -> None:
    """100 MB of zeros gzipped to ~100 KB is refused once the decoded size passes the cap."""

    def bomb(handler: BaseHTTPRequestHandler, _server: FeedServer) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.end_headers()
        for piece in gzip_stream(b"\0" * 1024 * 1024, 100):
            handler.wfile.write(piece)

    feed = poll_after_good_content(feed_server, runtime, bomb)
    assert "larger than the limit of 2097152 bytes" in (feed.last_error or "")


def test_gzip_feed_is_decoded(feed_server: FeedServer, runtime: Runtime) -> None:
    """An ordinary gzip-encoded feed is read like a plain one."""
    body = b"".join(gzip_stream(rss(rss_item(1, title=TITLE)).encode(), 1))
    assert poll_titles(feed_server, runtime, body, Content_Encoding="gzip") == [TITLE]
    _path, headers = feed_server.requests[-1]
    assert "gzip" in headers["accept-encoding"]


def test_corrupt_gzip_is_a_stored_error(feed_server: FeedServer, runtime: Runtime) -> None:
    """A body that claims gzip but is not ends as a clear error."""
    feed = poll_after_good_content(feed_server, runtime, _corrupt_gzip)
    assert "corrupt compressed body" in (feed.last_error or "")


def _corrupt_gzip(handler: BaseHTTPRequestHandler, _server: FeedServer) -> None:
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", "20")
    handler.end_headers()
    handler.wfile.write(b"this is not gzip....")
