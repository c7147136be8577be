"""FastAPI application factory. Routers live in one module per face (public, api, admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsletter.accounts.login_throttle import create_login_throttle
from newsletter.config import Settings, load_settings
from newsletter.logs import configure_logging
from newsletter.ops.health import Readiness
from newsletter.ops.metrics import AppMetrics
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.confirmation_publisher import ConfirmationPublisher
from newsletter.tasks.enqueue import CeleryProducer
from newsletter.web import (
    admin,
    admin_approval,
    admin_areas,
    admin_campaigns,
    admin_errors,
    admin_officials,
    admin_subscribers,
    api,
    api_campaigns,
    api_manage,
    api_subscribers,
    archive,
    ops,
    public,
    public_change_address,
    public_manage,
)
from newsletter.web.limits import BODY_LIMITS, BodySizeLimitMiddleware
from newsletter.web.middleware import RequestCounter
from newsletter.web.public_support import PublicState
from newsletter.web.security_headers import SecurityHeadersMiddleware


def create_app_from_environment() -> FastAPI:
    """The app with settings from NEWSLETTER_* / .env: uvicorn's factory for `--workers`.

    Each worker process of `newsletter web --workers N` imports and calls this itself
    (uvicorn cannot hand an app object to another process), and sets up its own logging.
    """
    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """Build the app around `runtime` (built from `settings` when not given)."""
    runtime = runtime or build_runtime(settings)
    public_state = PublicState.build(settings)
    login_throttle = create_login_throttle(settings)
    celery = CeleryProducer(settings)  # confirmations go to the urgent queue
    confirmations = ConfirmationPublisher(celery, runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        confirmations.close()  # publishes what is still waiting, through `celery`
        celery.close()
        public_state.close()
        login_throttle.close()
        runtime.close()

    app = FastAPI(
        title="Bản tin API",
        version="1",
        description="Newsletter subscriptions, articles, campaigns and delivery for a city portal.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.celery = celery
    app.state.confirmations = confirmations
    app.mount("/static", StaticFiles(packages=[("newsletter", "static")]), name="static")
    app.state.metrics = AppMetrics(runtime)
    app.state.readiness = Readiness(runtime)
    app.state.login_throttle = login_throttle
    app.add_middleware(RequestCounter, metrics=app.state.metrics)
    app.include_router(ops.router)
    app.state.public = public_state
    app.include_router(public.router)
    app.include_router(public_manage.router)
    app.include_router(public_change_address.router)
    # Every route has a body limit, checked before parsing and before any login check.
    app.add_middleware(BodySizeLimitMiddleware, limits=BODY_LIMITS)
    app.include_router(api.router)
    app.include_router(api_manage.router)
    app.include_router(api_subscribers.router)
    app.include_router(api_campaigns.router)
    app.include_router(archive.router)
    app.include_router(admin.router)
    app.include_router(admin_subscribers.router)
    app.include_router(admin_campaigns.router)
    app.include_router(admin_areas.router)
    app.include_router(admin_approval.router)
    app.include_router(admin_officials.router)
    admin_errors.install(app)  # /admin errors as pages; every other path as before
    # Added last, so outermost: its headers reach every answer, the 413 page included.
    app.add_middleware(
        SecurityHeadersMiddleware,
        allowed_origins=settings.allowed_origins,
        public_url=settings.public_url,
    )
    return app
