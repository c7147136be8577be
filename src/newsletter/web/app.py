"""FastAPI application factory. Routers live in one module per face (public, api, admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsletter.config import Settings
from newsletter.runtime import Runtime, build_runtime
from newsletter.web import archive, health


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app around `runtime` (built from `settings` when not given)."""
    runtime = runtime or build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        runtime.close()

    app = FastAPI(
        title="Bản tin API",
        version="1",
        description="Newsletter subscriptions, articles, campaigns and delivery for a city portal.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.mount("/static", StaticFiles(packages=[("newsletter", "static")]), name="static")
    app.include_router(health.router)
    app.include_router(archive.router)
    return app
