"""HTTP middleware shared by every face of the app."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.ops.metrics import AppMetrics


class RequestCounter:
    """Count requests by route template (not raw path: tokens must not become labels).

    Pure ASGI: Starlette's BaseHTTPMiddleware (`app.middleware("http")`) wraps every
    request in extra tasks and streams, which cost more CPU than a subscribe's own work.
    """

    def __init__(self, app: ASGIApp, *, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            # The router records the matched route in the scope it was handed.
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(scope["method"], template, str(status)).inc()
