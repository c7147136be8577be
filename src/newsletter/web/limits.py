"""Request-size limits: a resident's form is a few hundred bytes, an API push a few MiB.

Pure ASGI, so it checks Content-Length up front and also counts a chunked body as it
streams, answering 413 before the application reads more than the limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_FORM_MAX_BYTES = 16 * 1024
# An API push of 1,000 articles with ordinary summaries is a few MiB.
API_MAX_BYTES = 16 * 1024 * 1024
API_TOO_LARGE = b'{"detail":"request body over 16 MiB: split the push into smaller batches"}'

_TOO_LARGE_PAGE = (
    '<!doctype html><html lang="vi"><meta charset="utf-8">'
    "<title>Yêu cầu quá lớn</title><h1>Yêu cầu quá lớn</h1>"
    "<p>Dữ liệu gửi lên vượt quá giới hạn cho phép. Vui lòng rút gọn nội dung và thử lại.</p>"
    "</html>"
).encode()


class _BodyTooLargeError(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for a request body over `max_bytes` on paths starting with one of `prefixes`.

    The answer is the Vietnamese page unless `answer` (and its `content_type`) is given.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        prefixes: Sequence[str],
        answer: bytes = _TOO_LARGE_PAGE,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefixes = tuple(prefixes)
        self.answer = answer
        self.content_type = content_type.encode("ascii")

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
                    await self._reject(send)
                    return
        received = 0
        started = exceeded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
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
                    await self._reject(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", self.content_type),
                    (b"content-length", str(len(self.answer)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.answer})
