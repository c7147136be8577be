"""Request-size limits on every route: a resident's form is a few hundred bytes, a login
a few dozen, an API push or a CSV import a few MiB.

Pure ASGI, so it checks Content-Length up front and also counts a chunked body as it
streams, answering 413 before the application reads more than the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_FORM_MAX_BYTES = 16 * 1024
# An API push of 1,000 articles with ordinary summaries is a few MiB.
API_MAX_BYTES = 16 * 1024 * 1024
API_TOO_LARGE = b'{"detail":"request body over 16 MiB: split the push into smaller batches"}'
# A user name, a password and a CSRF token.
LOGIN_MAX_BYTES = 4 * 1024
# The longest admin form is a bulletin: a few pages of Markdown.
ADMIN_FORM_MAX_BYTES = 256 * 1024
# About 200,000 rows of address, name and categories; stated on the import form. The
# body also carries the form's other fields and the multipart framing.
IMPORT_FILE_MAX_BYTES = 20 * 1024 * 1024
IMPORT_MAX_BYTES = IMPORT_FILE_MAX_BYTES + 64 * 1024

_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="vi"><meta charset="utf-8">'
    "<title>Yêu cầu quá lớn</title><h1>Yêu cầu quá lớn</h1>"
    "<p>Dữ liệu gửi lên vượt quá giới hạn cho phép. Vui lòng rút gọn nội dung và thử lại.</p>"
    "</html>"
).encode()


def _admin_page(limit: str, advice: str) -> bytes:
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>Request too large</title><h1>Request too large</h1>"
        f"<p>The request body is over {limit}. {advice}</p></html>"
    ).encode()


@dataclass(frozen=True)
class BodyLimit:
    """Bodies of requests whose path starts with `prefix` may have at most `max_bytes`."""

    prefix: str
    max_bytes: int
    answer: bytes = _TOO_LARGE_PAGE
    content_type: str = "text/html; charset=utf-8"


# First match wins; the last rule ("") covers every other path, pages that take no body
# included, so no route reads more than it was given a limit for.
BODY_LIMITS = (
    BodyLimit("/admin/login", LOGIN_MAX_BYTES, _admin_page("4 KiB", "Send only the login form.")),
    BodyLimit(
        "/admin/subscribers/import",
        IMPORT_MAX_BYTES,
        _admin_page(
            "20 MiB", "Split the CSV file, or import it with `newsletter subscribers import`."
        ),
    ),
    BodyLimit(
        "/admin/", ADMIN_FORM_MAX_BYTES, _admin_page("256 KiB", "Shorten the text and retry.")
    ),
    BodyLimit("/api/", API_MAX_BYTES, API_TOO_LARGE, "application/json"),
    BodyLimit("", PUBLIC_FORM_MAX_BYTES),
)


class _BodyTooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for a request body over the limit of the first of `limits` its path matches.

    Checked before the application sees the request, so before any parsing, session or
    password check: an anonymous client cannot make the process read more than that.
    """

    def __init__(self, app: ASGIApp, *, limits: Sequence[BodyLimit] = BODY_LIMITS) -> None:
        self.app = app
        self.limits = tuple(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        rule = next((r for r in self.limits if path.startswith(r.prefix)), None)
        if rule is None:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > rule.max_bytes:
                    await _reject(send, rule)
                    return
        received = 0
        started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > rule.max_bytes:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # The app caught our error and answers (FastAPI: 400 "error parsing the
                # body"); the true answer is 413, sent in place of the app's.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reject(send, rule)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _reject(send, rule)


async def _reject(send: Send, rule: BodyLimit) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", rule.content_type.encode("ascii")),
                (b"content-length", str(len(rule.answer)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": rule.answer})
