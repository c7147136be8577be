"""The public site served by a real uvicorn on a loopback port, with its database and SMTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from newsletter.categories import add_category
from newsletter.config import Settings
from newsletter.runtime import Runtime
from newsletter.web import create_app
from tests.support.smtp import SMTPServer, _free_port


class LiveServer:
    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Site:
    """A running public site: its URL, settings, database and the SMTP server it mails."""

    url: str
    settings: Settings
    app: FastAPI
    smtp: SMTPServer

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def add_categories(self, *pairs: tuple[str, str]) -> None:
        with self.runtime.sessions.begin() as session:
            for slug, name in pairs:
                add_category(session, slug=slug, name=name)


SiteFactory = Callable[..., Site]


@pytest.fixture(name="site_factory")
def site_factory_fixture(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Iterator[SiteFactory]:
    """Start the app over real HTTP against a fresh database and the test SMTP server."""
    servers: list[LiveServer] = []

    def make(*, public_url_is_live: bool = False, **overrides: Any) -> Site:
        port = _free_port()
        values: dict[str, Any] = {
            "database_url": database_url,
            "smtp_url": smtp_server.url,
            "subscribe_rate_limit": 1000,
        }
        if public_url_is_live:
            # Links and the widget's form action must point at this very server.
            values["public_url"] = f"http://127.0.0.1:{port}"
        values.update(overrides)
        settings = settings_factory(**values)
        app = create_app(settings)
        server = LiveServer(app, port)
        server.start()
        servers.append(server)
        return Site(url=server.url, settings=settings, app=app, smtp=smtp_server)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(name="site")
def site_fixture(site_factory: SiteFactory) -> Site:
    """The public site with two categories."""
    running = site_factory()
    running.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    return running
