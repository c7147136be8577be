"""Security headers on every answer: no sniffing, a referrer policy, and who may frame us.

Framing is refused everywhere (clickjacking: a hidden frame over "Hủy đăng ký" or
"Xóa dữ liệu" would act with the resident's click) except for the subscribe box and
the page its form answers with, which the portals in NEWSLETTER_ALLOWED_ORIGINS may
show in a frame. Headers a handler set itself win (token pages send no-referrer).

Pure ASGI, so it adds headers without buffering bodies or touching background tasks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# The box and the answer to its form; everything else refuses to be framed.
EMBEDDABLE_PATHS = ("/widget", "/subscribe")
REFERRER_POLICY = "strict-origin-when-cross-origin"
# A CSP source must be a bare origin: anything else could add directives (";").
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def frame_ancestors(origins: Iterable[str]) -> str:
    """`'self'` and each well-formed origin; a malformed one is logged and left out."""
    sources = ["'self'"]
    for origin in origins:
        if _ORIGIN.match(origin):
            sources.append(origin)
        else:
            log.warning(
                "NEWSLETTER_ALLOWED_ORIGINS: %r is not an origin; not allowed to frame", origin
            )
    return " ".join(sources)


class SecurityHeadersMiddleware:
    """Adds nosniff, Referrer-Policy and a frame policy to each HTTP response."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Sequence[str]) -> None:
        self.app = app
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", REFERRER_POLICY),
        ]
        # X-Frame-Options cannot name several origins, so embeddable pages rely on CSP.
        self._embeddable = [
            *common,
            ("Content-Security-Policy", f"frame-ancestors {frame_ancestors(allowed_origins)}"),
        ]
        self._framed_nowhere = [
            *common,
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", "frame-ancestors 'none'"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        extra = self._embeddable if path in EMBEDDABLE_PATHS else self._framed_nowhere

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
