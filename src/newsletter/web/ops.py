"""Operations endpoints: /healthz (alive), /readyz (dependencies), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from newsletter.ops.health import check_broker, check_database, check_smtp
from newsletter.ops.metrics import AppMetrics
from newsletter.runtime import Runtime

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "A dependency is unreachable; `failing` names it"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: database, broker and SMTP reachable; names what is not."""
    runtime: Runtime = request.app.state.runtime
    checks = await asyncio.gather(
        asyncio.to_thread(check_database, runtime.engine),
        asyncio.to_thread(check_broker, runtime.settings),
        asyncio.to_thread(check_smtp, runtime.settings),
    )
    failing = [c.name for c in checks if not c.ok]
    body = {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }
    return JSONResponse(body, status_code=200 if not failing else 503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    app_metrics: AppMetrics = request.app.state.metrics
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
