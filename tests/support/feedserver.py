"""A real HTTP server on 127.0.0.1 for feed tests: static answers or custom handlers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler, "FeedServer"], None]


@dataclass
class Answer:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    # Join every handler thread on close, so no socket outlives the test.
    daemon_threads = False
    block_on_close = True


class FeedServer:
    """Serves `routes` (path -> Answer or handler); records each request's path and headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer | Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        # Set when the test ends: handlers that stall wait on it, so none outlives the test.
        self.release = threading.Event()
        owner = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = owner.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                elif isinstance(route, Answer):
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)
                else:
                    # The client hanging up mid-answer is what these tests expect of it.
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        route(self, owner)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), RequestHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def serve(self, path: str, body: bytes, *, status: int = 200, **headers: str) -> str:
        self.routes[path] = Answer(
            body, status, {k.replace("_", "-"): v for k, v in headers.items()}
        )
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)


def rss_item(
    number: int,
    *,
    title: str | None = None,
    category: str | None = None,
    guid: bool = True,
    pub_date: str = "Fri, 20 Nov 2026 08:00:00 +0700",
) -> str:
    """One RSS 2.0 <item> about a fictional city event, numbered for its guid and link."""
    parts = [
        f"<title>{title or f'Tin số {number}: Thành phố tổ chức lễ hội'}</title>",
        f"<link>https://example.gov.vn/tin/{number}</link>",
        f"<description>Bản tin số {number} của phường Hòa Bình.</description>",
        f"<pubDate>{pub_date}</pubDate>",
    ]
    if guid:
        parts.append(f'<guid isPermaLink="false">tin-{number}</guid>')
    if category:
        parts.append(f"<category>{category}</category>")
    return "<item>" + "".join(parts) + "</item>"


def rss(*items: str, encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<rss version="2.0"><channel><title>Cổng thông tin Hoa Sen</title>'
        "<link>https://example.gov.vn/</link><description>Tin tức</description>"
        + "".join(items)
        + "</channel></rss>"
    )
