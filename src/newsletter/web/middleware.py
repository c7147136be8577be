"""HTTP middleware shared by every face of the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from newsletter.metrics import AppMetrics


async def count_requests(
    metrics: AppMetrics, request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Count requests by route template (not raw path: tokens must not become labels)."""
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        metrics.http_requests.labels(request.method, template, str(status)).inc()
