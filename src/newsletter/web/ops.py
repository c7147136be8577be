"""Operations endpoints: /healthz (alive), /readyz (dependencies), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from newsletter.accounts.api_tokens import find_api_token
from newsletter.ops.health import Readiness
from newsletter.ops.metrics import AppMetrics
from newsletter.runtime import Runtime

router = APIRouter(tags=["operations"])

LOCAL_HOSTS = frozenset({"127.0.0.1", "::1"})


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "A dependency is unreachable; `failing` names it"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: database, broker and SMTP reachable.

    Everyone gets the status; what failed and why (which may name internal hosts) only
    goes to a caller with an API token or one connecting from this machine directly.
    """
    readiness: Readiness = request.app.state.readiness
    checks = await readiness.checks()
    failing = [c.name for c in checks if not c.ok]
    body: dict[str, object] = {"status": "ok" if not failing else "unavailable"}
    if await asyncio.to_thread(_may_see_details, request):
        body["failing"] = failing
        body["checks"] = {c.name: {"ok": c.ok, "detail": c.detail} for c in checks}
    return JSONResponse(body, status_code=200 if not failing else 503)


def _may_see_details(request: Request) -> bool:
    host = request.client.host if request.client else ""
    # Through a reverse proxy that does not say who the client is, every caller would
    # look local: a forwarded request is never taken for a local one.
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if host in LOCAL_HOSTS and not forwarded:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    runtime: Runtime = request.app.state.runtime
    with runtime.sessions.begin() as session:
        return find_api_token(session, token=token.strip()) is not None


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    app_metrics: AppMetrics = request.app.state.metrics
    return Response(generate_latest(app_metrics.registry), media_type=CONTENT_TYPE_LATEST)
