"""An official in a real browser (Debian chromium + Playwright): log in, compose a bulletin,
preview it, send it, and watch its progress reach 100%."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from newsletter.config import Settings
from newsletter.runtime import build_runtime
from newsletter.web import create_app
from tests.support.admin import ADMIN_PASSWORD, create_admin
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.ledger import WorkerProcess, add_category, add_subscribers
from tests.support.smtp import SMTPServer
from tests.support.webserver import WebServer

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


def test_official_sends_a_bulletin_and_watches_it_finish(
    browser: Browser,
    database_url: str,
    settings_factory: Callable[..., Settings],
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> None:
    """From the login form to a progress bar at 100%, all in the browser, asked to confirm
    before sending, with nothing refused by the Content-Security-Policy."""
    settings = settings_factory(
        database_url=database_url, smtp_url=smtp_server.url, public_url="http://127.0.0.1",
        send_rate=200, batch_size=20,
    )  # fmt: skip
    runtime = build_runtime(settings)
    with runtime.sessions.begin() as s:
        notices = add_category(s, "thong-bao", "Thông báo")
        add_subscribers(s, 30, prefix="dan", categories=[notices])
    create_admin(runtime.engine)
    server = WebServer(create_app(settings, runtime))
    server.start()
    try:
        with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent,default"):
            page = browser.new_page()
            page.set_default_timeout(20_000)
            blocked: list[str] = []  # what the Content-Security-Policy refused, if anything
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.goto(f"{server.url}/admin/login")
            page.get_by_label("Username").fill("canbo")
            page.get_by_label("Password").fill(ADMIN_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            page.get_by_role("link", name="New bulletin").click()
            page.get_by_label("Subject").fill("Thông báo cắt điện")
            page.get_by_label("Message").fill("Cắt điện **từ 8:00 đến 11:00** ngày mai.")
            page.get_by_label("Thông báo").check()
            page.get_by_role("button", name="Preview").click()
            expect(page.locator("#recipient-count")).to_have_text(
                "This bulletin will be sent to 30 residents."
            )
            frame = page.frame_locator("iframe[title='HTML part of the bulletin']")
            expect(frame.get_by_text("từ 8:00 đến 11:00", exact=True)).to_be_visible()
            asked: list[str] = []
            page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
            page.get_by_role("button", name="Send to 30 residents").click()
            expect(page.locator("#percent")).to_have_text("100", timeout=60_000)
            expect(page.locator("#status")).to_have_text("sent")
            assert asked == ["Send this bulletin to 30 residents now?"]
            assert blocked == []
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "admin-campaign.png"), full_page=True)
    finally:
        server.stop()
        runtime.close()
    received = smtp_server.wait_for(30)
    assert len({m.rcpt_tos[0] for m in received}) == 30
