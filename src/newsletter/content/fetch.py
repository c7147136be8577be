"""Fetching a feed over HTTP with hard bounds: time, size, redirects and destination.

A feed URL is typed by an admin but its server is not ours: it may never answer,
answer forever, send 50 MB, redirect in circles or point into the intranet. Each of
those ends here as a FeedError whose message is stored on the feed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from newsletter.config import Settings

USER_AGENT = "BanTin-Newsletter/0.1 (feed reader)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FeedError(Exception):
    """A feed could not be fetched or read; the message is what `feeds list` shows."""


@dataclass(frozen=True)
class Fetched:
    """A 200 answer (`body` set) or a 304 (`body` None), with the validators to keep."""

    url: str
    body: bytes | None
    content_type: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.body is None


def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse non-http(s) URLs and, unless allowed, hosts on loopback/private networks."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FeedError(f"invalid feed URL {url!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FeedError(f"invalid feed URL {url!r}: only absolute http(s) URLs can be polled")
    if allow_private:
        return
    public_addresses(parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80))


def public_addresses(host: str, port: int) -> list[str]:
    """`host`'s addresses; FeedError if it has none or any is loopback/private/reserved."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FeedError(f"cannot resolve host {host!r}: {exc}") from None
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not is_public(address):
            raise FeedError(
                f"feed host {host!r} resolves to {address}, a loopback/private/reserved "
                "address; refused (set NEWSLETTER_FEED_ALLOW_PRIVATE=true to allow it)"
            )
        addresses.append(str(address))
    if not addresses:
        raise FeedError(f"cannot resolve host {host!r}: no address")
    return addresses


# IPv6 forms that carry an IPv4 address the packet ends up at: the embedded address is the
# real destination, so it is the one to check ("64:ff9b::a00:1" is 10.0.0.1 via NAT64).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215's local-use translation prefix: where it leads is a local decision, never public.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside a NAT64, 6to4, IPv4-mapped or Teredo address, else None."""
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where packets go
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a global address whose embedded IPv4 address, if any, is global too."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return inner.is_global
    return True


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to addresses it vetted itself, at connection time.

    check_destination resolves the name before the request, but the connection would
    resolve it again: a DNS answer that changes in between (DNS rebinding) could reach
    the intranet. Here the name is resolved once and the socket goes to those vetted
    addresses; TLS still checks the certificate against the name.
    """

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        error: httpcore.ConnectError | None = None
        for address in public_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None  # public_addresses never returns an empty list
        raise error


def _within(deadline: float, timeout: float | None) -> float:
    """The smaller of `timeout` and the time left before `deadline`; 0 once it passed."""
    left = max(deadline - time.monotonic(), 0.0)
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by one wall-clock deadline.

    httpx's timeouts bound each read, so a server sending one byte of its headers every
    0.2 s never trips a 1 s timeout; here each read gets only the time left of the whole.
    """

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = _within(self._deadline, timeout)
        if left <= 0:
            raise httpcore.ReadTimeout("feed fetch deadline passed")
        return self._stream.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = _within(self._deadline, timeout)
        if left <= 0:
            raise httpcore.WriteTimeout("feed fetch deadline passed")
        self._stream.write(buffer, left)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _within(self._deadline, timeout)
        if left <= 0:
            raise httpcore.ConnectTimeout("feed fetch deadline passed")
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Connections of `inner` whose connect, reads and writes all end by `deadline`."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _within(self._deadline, timeout)
        if left <= 0:
            raise httpcore.ConnectTimeout("feed fetch deadline passed")
        stream = self._inner.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _client(settings: Settings, timeout: float, deadline: float) -> httpx.Client:
    # trust_env=False: a proxy from the environment would bypass the destination check.
    transport = httpx.HTTPTransport(trust_env=False)
    pool = transport._pool
    assert isinstance(pool, httpcore.ConnectionPool)
    inner = httpcore.SyncBackend() if settings.feed_allow_private else _PublicOnlyBackend()
    pool._network_backend = _DeadlineBackend(inner, deadline)
    return httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
    )


def _decompressor(response: httpx.Response) -> Any:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise FeedError(f"unsupported Content-Encoding {encoding!r} (we ask for gzip or deflate)")


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    """The decoded body, refused as soon as it passes `max_bytes` or the deadline.

    We decompress ourselves, never more than the bytes still allowed per step, so a
    small gzip bomb costs no more memory than a plain body at the cap.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedError(
            f"feed is {int(declared)} bytes, more than the limit of {max_bytes} "
            "(NEWSLETTER_FEED_MAX_BYTES)"
        )
    try:
        return _read_decoded(response, max_bytes=max_bytes, deadline=deadline)
    except zlib.error as exc:
        raise FeedError(f"corrupt compressed body: {exc}") from None


def _read_decoded(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    decompressor = _decompressor(response)
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw():
        pending = raw
        while pending:
            if decompressor is None:
                piece, pending = pending, b""
            else:
                piece = decompressor.decompress(pending, max_bytes - size + 1)
                pending = decompressor.unconsumed_tail
            size += len(piece)
            if size > max_bytes:
                raise FeedError(
                    f"feed is larger than the limit of {max_bytes} bytes "
                    "(NEWSLETTER_FEED_MAX_BYTES); download aborted"
                )
            chunks.append(piece)
        if time.monotonic() > deadline:
            raise FeedError("feed server is too slow: download not finished in time; aborted")
    if decompressor is not None:
        chunks.append(decompressor.flush())
        if size + len(chunks[-1]) > max_bytes:
            raise FeedError(f"feed is larger than the limit of {max_bytes} bytes")
    return b"".join(chunks)


def fetch_feed(
    settings: Settings, *, url: str, etag: str | None = None, last_modified: str | None = None
) -> Fetched:
    """GET `url` conditionally (ETag / Last-Modified) within the configured bounds."""
    timeout = settings.feed_timeout_seconds
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    with _client(settings, timeout, deadline) as client:
        for _hop in range(settings.feed_max_redirects + 1):
            check_destination(current, allow_private=settings.feed_allow_private)
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                with client.stream("GET", current, headers=headers, timeout=remaining) as response:
                    if response.status_code == httpx.codes.NOT_MODIFIED:
                        return Fetched(current, None, None, etag, last_modified)
                    if response.status_code in REDIRECTS:
                        location = response.headers.get("location")
                        if not location:
                            raise FeedError(f"HTTP {response.status_code} without a Location")
                        current = str(response.url.join(location))
                        continue
                    if response.status_code != httpx.codes.OK:
                        raise FeedError(
                            f"HTTP {response.status_code} {response.reason_phrase} from {current}"
                        )
                    body = _read_capped(
                        response, max_bytes=settings.feed_max_bytes, deadline=deadline
                    )
                    return Fetched(
                        url=current,
                        body=body,
                        content_type=response.headers.get("content-type"),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
            except httpx.TimeoutException:
                raise FeedError(
                    f"feed server did not answer within {timeout:g} s "
                    "(NEWSLETTER_FEED_TIMEOUT_SECONDS)"
                ) from None
            except httpx.HTTPError as exc:
                raise FeedError(f"cannot fetch {current}: {type(exc).__name__}: {exc}") from None
    raise FeedError(
        f"more than {settings.feed_max_redirects} redirects (NEWSLETTER_FEED_MAX_REDIRECTS)"
    )
