"""Two officials in Chromium: an editor drafts and cannot send; an approver cannot approve
their own big bulletin; a second approver approves it and it is sent to the end; an
emergency send with a reason; a schedule on the dashboard. Screenshots at 375 and 1280 px."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from newsletter.accounts.roles import Role
from newsletter.config import Settings
from newsletter.runtime import build_runtime
from newsletter.web import create_app
from tests.support.admin import ADMIN_PASSWORD, create_admin
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.ledger import WorkerProcess, add_subscribers
from tests.support.smtp import SMTPServer
from tests.support.webserver import WebServer

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

RESIDENTS, THRESHOLD = 12, 10
PHONE, DESK = 375, 1280


def official(browser: Browser, url: str, username: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": DESK, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{url}/admin/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return context, page


def draft(page: Page, subject: str) -> str:
    """Compose a bulletin to everyone; returns its preview's URL."""
    page.get_by_role("link", name="New bulletin").click()
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("Message").fill("Cắt nước **từ 8:00 đến 11:00** ngày mai.")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Approval")).to_be_visible()
    return page.url


def shoot(page: Page, name: str) -> None:
    """Screenshots at both widths; nothing wider than the phone's screen."""
    for width in (PHONE, DESK):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide on a {width} px screen"


def test_two_officials_and_an_emergency_in_the_browser(
    browser: Browser,
    database_url: str,
    settings_factory: Callable[..., Settings],
    smtp_server: SMTPServer,
    tmp_path: Path,
) -> None:
    """The whole two-officials path and the emergency path, clicked through."""
    settings = settings_factory(
        database_url=database_url, smtp_url=smtp_server.url, public_url="http://127.0.0.1",
        send_rate=200, batch_size=20, approval_threshold=THRESHOLD,
    )  # fmt: skip
    runtime = build_runtime(settings)
    with runtime.sessions.begin() as s:
        add_subscribers(s, RESIDENTS)
    for name, role in (("bientap", Role.EDITOR), ("duyet-a", Role.APPROVER),
                       ("duyet-b", Role.APPROVER), ("quantri", Role.ADMIN)):  # fmt: skip
        create_admin(runtime.engine, username=name, role=role)
    ARTIFACTS.mkdir(exist_ok=True)
    server = WebServer(create_app(settings, runtime))
    server.start()
    try:
        with WorkerProcess(settings, tmp_path / "worker.log", queues="urgent,default"):
            editor_context, editor = official(browser, server.url, "bientap")
            editors_url = draft(editor, "Thông báo của biên tập viên")
            expect(editor.locator("#waits-for-approver")).to_be_visible()
            expect(
                editor.get_by_role("button", name=f"Send to {RESIDENTS} residents")
            ).to_have_count(0)
            shoot(editor, "approval-editor-draft")

            a_context, a = official(browser, server.url, "duyet-a")
            own_url = draft(a, "Thông báo cắt nước toàn thành phố")
            expect(a.locator("#send-blocked")).to_contain_text("over the approval threshold of 10")
            expect(a.get_by_role("button", name=f"Send to {RESIDENTS} residents")).to_be_disabled()
            shoot(a, "approval-blocked")
            a.get_by_role("button", name="Approve").click()
            expect(a.get_by_role("alert")).to_contain_text("not its author")

            b_context, b = official(browser, server.url, "duyet-b")
            b.goto(own_url)
            b.get_by_role("button", name="Approve").click()
            expect(b.locator("#approval-state")).to_contain_text("Approved by duyet-b")

            a.goto(own_url)
            a.once("dialog", lambda dialog: dialog.accept())
            a.get_by_role("button", name=f"Send to {RESIDENTS} residents").click()
            expect(a.locator("#percent")).to_have_text("100", timeout=60_000)

            # The emergency path: the editor's big bulletin, sent by A alone with a reason.
            a.goto(editors_url)
            reason = "Vỡ đường ống chính, nước bẩn: không kịp chờ người duyệt thứ hai"
            a.get_by_label("Reason").fill(reason)
            a.once("dialog", lambda dialog: dialog.accept())
            a.get_by_role("button", name="Emergency send").click()
            expect(a.locator("#percent")).to_have_text("100", timeout=60_000)

            # A schedule, shown on the dashboard with why it would not start.
            later_url = draft(a, "Lịch cắt điện tuần sau")
            later = dt.datetime.now(ZoneInfo(settings.timezone)) + dt.timedelta(days=2)
            a.get_by_label("Date and time").fill(later.strftime("%Y-%m-%dT%H:%M"))
            a.get_by_role("button", name="Schedule", exact=True).click()
            expect(a.locator(".notice")).to_contain_text("Scheduled for")
            a.goto(f"{server.url}/admin/")
            expect(a.locator("#emergencies")).to_contain_text(reason)
            expect(a.locator("#scheduled")).to_contain_text(later.strftime("%Y-%m-%d %H:%M"))
            expect(a.locator("#scheduled")).to_contain_text("Will not start unless approved")
            shoot(a, "approval-dashboard")
            a.goto(later_url)
            shoot(a, "approval-scheduled")
            admin_context, admin = official(browser, server.url, "quantri")
            admin.get_by_role("link", name="Officials").click()
            admin.get_by_label("Role of bientap").select_option("approver")
            admin.locator('tr[data-official="bientap"]').get_by_role(
                "button", name="Set role"
            ).click()
            expect(admin.locator(".notice")).to_contain_text("bientap is now approver")
            shoot(admin, "approval-officials")
            for context in (editor_context, a_context, b_context, admin_context):
                context.close()
    finally:
        server.stop()
        runtime.close()
    received = smtp_server.wait_for(2 * RESIDENTS, timeout=60)
    assert len(received) == 2 * RESIDENTS
