"""Threats of docs/security.md that no other test file covered: SSRF, XSS end to end, logs."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import re
import select
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from newsletter.accounts.api_tokens import create_api_token
from newsletter.campaigns.build import build_digest
from newsletter.config import Settings
from newsletter.content import fetch as feed_fetch
from newsletter.content.categories import add_category
from newsletter.content.fetch import FeedError, check_destination, fetch_feed
from newsletter.logs import JSONFormatter, ReadableFormatter
from newsletter.models import CampaignStatus
from newsletter.runtime import build_runtime
from newsletter.web.app import create_app
from newsletter.web.limits import API_MAX_BYTES, IMPORT_MAX_BYTES, LOGIN_MAX_BYTES
from tests.support.feedserver import Answer, FeedServer, rss, rss_item
from tests.support.webserver import serve

# --- SSRF through feed URLs -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/rss",
        "http://localhost:8080/rss",
        "http://[::1]/rss",
        "http://[::ffff:127.0.0.1]/rss",
        "http://2130706433/rss",  # 127.0.0.1 written as one number
        "http://0.0.0.0/rss",
        "http://10.0.0.1/rss",
        "http://172.16.5.4/rss",
        "http://192.168.1.1/rss",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/rss",  # carrier-grade NAT
        "http://[fd00::1]/rss",
        "http://[fe80::1]/rss",
    ],
)
def test_feed_destination_refuses_internal_addresses(url: str) -> None:
    """Loopback, private, link-local and reserved hosts are refused before any connection."""
    with pytest.raises(FeedError, match="NEWSLETTER_FEED_ALLOW_PRIVATE"):
        check_destination(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a00:1]/rss",  # NAT64 of 10.0.0.1
        "http://[64:ff9b::7f00:1]/rss",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/rss",  # NAT64 of the cloud metadata address
        "http://[64:ff9b:1::a00:1]/rss",  # local-use NAT64 prefix
        "http://[2002:c0a8:101::1]/rss",  # 6to4 of 192.168.1.1
        "http://[2002:a00:1::1]/rss",  # 6to4 of 10.0.0.1
    ],
)
def test_feed_destination_unwraps_ipv4_inside_ipv6(url: str) -> None:
    """A private IPv4 address wrapped in a NAT64 or 6to4 IPv6 address is refused too."""
    with pytest.raises(FeedError, match="NEWSLETTER_FEED_ALLOW_PRIVATE"):
        check_destination(url, allow_private=False)


def test_wrapped_public_ipv4_stays_public() -> None:
    """NAT64 and 6to4 forms of a public IPv4 address are still allowed (IPv6-only hosts)."""
    assert feed_fetch.is_public(ipaddress.ip_address("64:ff9b::808:808"))
    assert feed_fetch.is_public(ipaddress.ip_address("2002:808:808::1"))
    assert not feed_fetch.is_public(ipaddress.ip_address("::ffff:10.0.0.1"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.gov.vn/rss", "//x/rss"]
)
def test_feed_destination_refuses_other_schemes(url: str) -> None:
    """Only absolute http(s) URLs can be polled, whatever allow_private says."""
    with pytest.raises(FeedError, match="only absolute http"):
        check_destination(url, allow_private=True)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.stop()


def stand_in_for_the_internet(
    monkeypatch: pytest.MonkeyPatch, public: FeedServer
) -> Callable[[str, int], list[str]]:
    """The public feed host is the internet, which tests cannot reach: the loopback server
    `public` stands in for it (by its port); every other address gets the real check."""
    real = feed_fetch.public_addresses

    def public_addresses(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if port == public.port else real(host, port)

    monkeypatch.setattr(feed_fetch, "public_addresses", public_addresses)
    return real


def test_redirect_into_the_intranet_is_refused(
    feed_server: FeedServer,
    settings_factory: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A public feed that redirects to an internal address is refused at the redirect hop."""
    intranet = FeedServer()
    intranet.start()
    try:
        internal = intranet.serve("/internal", rss(rss_item(1)).encode())
        start = feed_server.url("/start")
        feed_server.routes["/start"] = Answer(status=302, headers={"Location": internal})
        stand_in_for_the_internet(monkeypatch, feed_server)
        with pytest.raises(FeedError, match="loopback/private"):
            fetch_feed(settings_factory(), url=start)
    finally:
        intranet.stop()
    assert [path for path, _ in feed_server.requests] == ["/start"]
    assert intranet.requests == []


def test_a_name_that_rebinds_to_the_intranet_after_the_check_is_refused(
    feed_server: FeedServer,
    settings_factory: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name is public when checked, loopback when connected: refused.

    The resolver is the one thing replaced (a rebinding DNS server cannot run here): it
    answers a public address first and the feed server's loopback address after.
    """
    feed_server.serve("/rss", rss(rss_item(1)).encode())
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        if host != "feeds.example.gov.vn":
            return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://feeds.example.gov.vn:{feed_server.port}/rss"
    with pytest.raises(FeedError, match=r"resolves to 127\.0\.0\.1"):
        fetch_feed(settings_factory(), url=url)
    assert feed_server.requests == []


# --- XSS through feeds, end to end --------------------------------------------------------

HOSTILE = {
    "url": "https://example.gov.vn/tin/xss",
    "title": 'Cắt nước & "khẩn" <script>alert(1)</script><img src=x onerror=alert(1)>',
    "summary": (
        '<p>Tin <a href="javascript:alert(1)">bấm</a></p><svg onload=alert(1)>'
        '<iframe src="https://evil.example"></iframe><style>*{}</style>'
    ),
    "author": '"><script>alert(2)</script>',
    "image_url": "javascript:alert(3)",
    "category": "thong-bao",
    "published_at": "2026-11-27T08:00:00+07:00",
}


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_hostile_article_is_inert_in_the_archive(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """An article pushed with scripts and handlers shows as text in the public archive copy."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    with runtime.sessions.begin() as session:
        add_category(session, slug="thong-bao", name="Thông báo")
        token = create_api_token(session, name="cms")
    try:
        with serve(create_app(settings, runtime)) as client:
            pushed = client.post(
                "/api/v1/articles", json=HOSTILE, headers={"Authorization": f"Bearer {token}"}
            )
            assert pushed.status_code == 200, pushed.text
            with runtime.sessions.begin() as session:
                now = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.UTC)
                digest = build_digest(session, settings=settings, now=now)
                assert digest is not None
                digest.status = CampaignStatus.SENT
                session.flush()
                digest_id = digest.id
            page = client.get(f"/archive/{digest_id}").text.lower()
    finally:
        runtime.close()
    assert "cắt nước &amp;" in page
    for active in ("<script", "onerror", "onload", "javascript:", "<iframe", "<svg"):
        assert active not in page


# --- request size ---------------------------------------------------------------------------


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_api_refuses_huge_bodies_before_reading_them(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """Without a token, a body over API_MAX_BYTES is a 413 (FastAPI parses bodies before auth)."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    chunk = b" " * 1024 * 1024

    def streamed() -> Iterator[bytes]:
        for _ in range(API_MAX_BYTES // len(chunk) + 2):
            yield chunk

    try:
        with serve(create_app(settings, runtime)) as client:
            declared = declare_huge_body(client.base_url.host, client.base_url.port)
            chunked = client.post(
                "/api/v1/articles", content=streamed(), headers={"Content-Type": "application/json"}
            )
    finally:
        runtime.close()
    assert declared.startswith(b"HTTP/1.1 413")
    assert b"smaller batches" in declared
    assert chunked.status_code == 413
    assert "smaller batches" in chunked.json()["detail"]


def declare_huge_body(host: str, port: int | None) -> bytes:
    """Announce a body over the limit, send none of it, and return the raw answer."""
    assert port is not None
    request = (
        "POST /api/v1/articles HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {API_MAX_BYTES + 1}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request.encode("ascii"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "limit"),
    [("/admin/login", LOGIN_MAX_BYTES), ("/admin/subscribers/import", IMPORT_MAX_BYTES)],
)
def test_anonymous_admin_upload_is_refused_before_it_is_read(
    settings_factory: Callable[..., Settings],
    database_url: str,
    path: str,
    limit: int,
    declared: bool,
) -> None:
    """An anonymous upload of four times an admin route's limit, sent slowly, gets 413 before
    the client has finished sending it: the server stops reading at the limit."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    total = 4 * limit
    try:
        with serve(create_app(settings, runtime)) as client:
            answer, sent = upload_slowly(
                client.base_url.host, client.base_url.port, path, total, declared=declared
            )
    finally:
        runtime.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"Request too large" in answer
    assert sent < total


def upload_slowly(
    host: str, port: int | None, path: str, total: int, *, declared: bool
) -> tuple[bytes, int]:
    """POST a form of `total` bytes in pieces with pauses (a file part for the import, a
    field for the login), stopping as soon as the server answers; returns the answer and
    how many body bytes were sent by then."""
    assert port is not None
    if path.endswith("/import"):
        content_type = "multipart/form-data; boundary=b0undary"
        start = (
            b"--b0undary\r\nContent-Disposition: form-data; name=file; filename=a.csv\r\n"
            b"Content-Type: text/csv\r\n\r\nemail\r\n"
        )
    else:
        content_type, start = "application/x-www-form-urlencoded", b"username=canbo&password="
    framing = f"Content-Length: {total}" if declared else "Transfer-Encoding: chunked"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    )
    piece = b"a" * min(256 * 1024, total // 64)
    sent = 0
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode("ascii"))
        try:
            while sent < total and not select.select([sock], [], [], 0.005)[0]:
                data = (start if sent == 0 else piece)[: total - sent]
                sock.sendall(data if declared else b"%x\r\n%s\r\n" % (len(data), data))
                sent += len(data)
            if sent == total and not declared:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        return read_answer(sock), sent


def read_answer(sock: socket.socket) -> bytes:
    """One HTTP/1.1 answer with a Content-Length, read from `sock`."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


# --- Content-Security-Policy: nothing inline in the page templates -------------------------

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "web"


@pytest.mark.parametrize(
    "template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html"))
)
def test_page_templates_have_no_inline_script_or_style(template: str) -> None:
    """No page template holds an inline <script>, an on…= handler or a style= attribute,
    which the Content-Security-Policy would block."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", text), "event handler attribute"
    assert not re.search(r"\sstyle\s*=", text), "style attribute"
    assert "<style" not in text


# --- personal data and link tokens in logs ------------------------------------------------


def record(message: str, *args: object, name: str = "newsletter") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


@pytest.mark.parametrize("formatter", [JSONFormatter(), ReadableFormatter()])
def test_access_log_hides_link_tokens(formatter: logging.Formatter) -> None:
    """uvicorn's access line for a token page keeps the route but not the token."""
    line = formatter.format(
        record(
            '%s - "%s %s HTTP/%s" %d',
            "203.0.113.9:51234",
            "POST",
            "/unsubscribe/MTIzNDU.sgn-_aQ?List-Unsubscribe=One-Click",
            "1.1",
            200,
            name="uvicorn.access",
        )
    )
    assert "/unsubscribe/***" in line
    assert "MTIzNDU" not in line


@pytest.mark.parametrize("address", ["an@hà-nội.vn", "o'brien@example.vn", "x@рф.ru"])
def test_logs_mask_idn_and_unusual_addresses(address: str) -> None:
    """Unicode domains (the stored form of an IDN address) and atext local parts are masked."""
    entry = json.loads(JSONFormatter().format(record("confirmation to %s sent", address)))
    local, _, domain = address.partition("@")
    assert address not in entry["message"]
    assert f"{local[0]}***@{domain}" in entry["message"]


# --- open redirect ------------------------------------------------------------------------


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_source_url_is_recorded_never_followed(
    settings_factory: Callable[..., Settings], database_url: str
) -> None:
    """A `source` or Referer pointing elsewhere never becomes a redirect (no open redirect)."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    try:
        with serve(create_app(settings, runtime)) as client:
            response = client.post(
                "/subscribe",
                data={"email": "an@example.vn", "source": "https://evil.example/phish"},
                headers={"Referer": "https://evil.example/"},
            )
    finally:
        runtime.close()
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "evil.example" not in response.text
