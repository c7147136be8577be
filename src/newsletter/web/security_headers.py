"""Security headers on every answer: no sniffing, a referrer policy, a Content-Security-
Policy (what a page may load and who may frame it) and, over https, HSTS.

Framing is refused everywhere (clickjacking: a hidden frame over "Hủy đăng ký" or
"Xóa dữ liệu" would act with the resident's click) except for the subscribe box and
the page its form answers with, which the portals in NEWSLETTER_ALLOWED_ORIGINS may
show in a frame. Scripts come only from our own files (no inline script, no handler
attributes), so injected markup cannot run. Styles are our files too, except on the
archive copy of a mail and the admin bulletin preview: a mail's HTML carries inline
styles (mail clients ignore style sheets), and a preview frame inherits its page's
policy. Headers a handler set itself win (token pages send no-referrer).

Pure ASGI, so it adds headers without buffering bodies or touching background tasks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

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


def content_security_policy(
    *, public_url: str, frame_ancestors: str, inline_styles: bool = False
) -> str:
    """The policy of one page; `public_url`'s origin counts as ours (pages link to it)."""
    ours = "'self'"
    origin = _origin_of(public_url)
    if origin is not None:
        ours += f" {origin}"
    styles = f"{ours} 'unsafe-inline'" if inline_styles else ours
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {ours}",
            f"style-src {styles}",
            f"img-src {ours} https: data:",  # article images and logos live elsewhere
            f"connect-src {ours}",
            f"form-action {ours}",
            "object-src 'none'",
            "base-uri 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.match(origin) else None


# FastAPI's API documentation pages: fixed HTML that starts Swagger UI / ReDoc with an
# inline script and loads them from a CDN; they hold no user content.
_DOCS_PREFIXES = ("/docs", "/redoc")
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' https: data:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# Pages whose HTML is a mail's (inline styles), or frames one.
_INLINE_STYLE_PREFIXES = ("/archive/", "/admin/bulletins")
HSTS = "max-age=31536000"


class SecurityHeadersMiddleware:
    """Adds nosniff, Referrer-Policy, a CSP with the frame policy, and HSTS over https."""

    def __init__(
        self, app: ASGIApp, *, allowed_origins: Sequence[str], public_url: str = ""
    ) -> None:
        self.app = app
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", REFERRER_POLICY),
        ]
        if public_url.startswith("https://"):
            common.append(("Strict-Transport-Security", HSTS))
        embeddable = frame_ancestors(allowed_origins)
        # X-Frame-Options cannot name several origins, so embeddable pages rely on CSP.
        self._embeddable = [
            *common,
            (
                "Content-Security-Policy",
                content_security_policy(public_url=public_url, frame_ancestors=embeddable),
            ),
        ]
        self._framed_nowhere = [
            *common,
            ("X-Frame-Options", "DENY"),
            (
                "Content-Security-Policy",
                content_security_policy(public_url=public_url, frame_ancestors="'none'"),
            ),
        ]
        self._docs = [
            *common,
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", DOCS_POLICY),
        ]
        self._mail_copy = [
            *common,
            ("X-Frame-Options", "DENY"),
            (
                "Content-Security-Policy",
                content_security_policy(
                    public_url=public_url, frame_ancestors="'none'", inline_styles=True
                ),
            ),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        if path in EMBEDDABLE_PATHS:
            extra = self._embeddable
        elif path.startswith(_DOCS_PREFIXES):
            extra = self._docs
        elif path.startswith(_INLINE_STYLE_PREFIXES):
            extra = self._mail_copy
        else:
            extra = self._framed_nowhere

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
