"""Request-size limit for the public forms: a resident's form is a few hundred bytes.

Pure ASGI, so it checks Content-Length up front and also counts a chunked body as it
streams, answering 413 before the application reads more than the limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_FORM_MAX_BYTES = 16 * 1024

_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="vi"><meta charset="utf-8">'
    "<title>Yêu cầu quá lớn</title><h1>Yêu cầu quá lớn</h1>"
    "<p>Dữ liệu gửi lên vượt quá giới hạn cho phép. Vui lòng rút gọn nội dung và thử lại.</p>"
    "</html>"
).encode()


class _BodyTooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for a request body over `max_bytes` on paths starting with one of `prefixes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, prefixes: Sequence[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _reject(send)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _reject(send)


async def _reject(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(_TOO_LARGE_PAGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE_PAGE})
