"""A real browser (Debian's chromium, driven by Playwright) subscribes from a portal's footer box.

The portal page is served by its own local HTTP server, on another origin than the
service, so the in-place JSON submit goes through CORS as it would in production.
Chromium comes from `make browser-deps` (a prerequisite of `make test`).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser
from sqlalchemy import select

from newsletter.models import ConsentEvent, Subscriber
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.public_site import (  # noqa: F401
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)
from tests.support.smtp import _free_port

# The browser exercises pages and script, not the store: one backend is enough.
pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

PORTAL_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Cổng Thông tin điện tử Thành phố Hoa Sen</title>
</head><body>
<header><h1>Cổng Thông tin điện tử Thành phố Hoa Sen</h1></header>
<main><p>Tin tức mới nhất của thành phố.</p></main>
<footer>
<p>Số 1 Đường Trung Tâm · (0200) 3 123 456</p>
{widget}
</footer>
</body></html>"""


class _PortalServer:
    """The portal: one page whose footer includes the service's /widget fragment."""

    def __init__(self, port: int, html: str) -> None:
        body = html.encode("utf-8")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _PortalServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_browser_subscribes_from_the_footer_box(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """With JavaScript the box submits in place and shows the Vietnamese success message."""
    portal_port = _free_port()
    portal_origin = f"http://127.0.0.1:{portal_port}"
    site = site_factory(allowed_origins=portal_origin, public_url_is_live=True)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    with site.client() as client:
        widget = client.get("/widget").text
    with _PortalServer(portal_port, PORTAL_PAGE.format(widget=widget)):
        page = browser.new_page()
        page.goto(portal_origin + "/tin-tuc/bai-viet-1")
        page.get_by_label("E-mail").fill("dung@example.gov.vn")
        page.get_by_label("Họ và tên (không bắt buộc)").fill("Trần Dũng")
        page.get_by_label("Thông báo").check()
        page.get_by_role("button", name="Đăng ký").click()
        status = page.locator(".bantin-status")
        status.filter(has_text="Cảm ơn bạn!").wait_for(timeout=30_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "subscribe-widget.png"), full_page=True)
        assert page.url == portal_origin + "/tin-tuc/bai-viet-1"  # answered in place
        assert "Cảm ơn bạn!" in status.inner_text()
        page.close()
    [mail] = site.smtp.wait_for(1)
    assert mail.rcpt_tos == ["dung@example.gov.vn"]
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber)).one()
        assert [c.slug for c in row.categories] == ["thong-bao"]
        event = session.scalars(select(ConsentEvent)).one()
        assert event.source_url == portal_origin + "/tin-tuc/bai-viet-1"
        assert event.detail is not None
        assert '"via": "json"' in event.detail


def test_browser_without_javascript_posts_the_plain_form(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """Without JavaScript the same box posts the form and the service answers with a full page."""
    portal_port = _free_port()
    portal_origin = f"http://127.0.0.1:{portal_port}"
    site = site_factory(allowed_origins=portal_origin, public_url_is_live=True)
    with site.client() as client:
        widget = client.get("/widget").text
    with _PortalServer(portal_port, PORTAL_PAGE.format(widget=widget)):
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(portal_origin + "/")
        page.get_by_label("E-mail").fill("em@example.gov.vn")
        page.get_by_role("button", name="Đăng ký").click()
        page.get_by_role("heading", name="Cảm ơn bạn!").wait_for(timeout=30_000)
        assert page.url == site.url + "/subscribe"
        context.close()
    assert site.smtp.wait_for(1)[0].rcpt_tos == ["em@example.gov.vn"]


def test_browser_loads_the_box_with_the_script_only(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """A portal that cannot include server-side gets the box from a placeholder and the script."""
    portal_port = _free_port()
    portal_origin = f"http://127.0.0.1:{portal_port}"
    site = site_factory(allowed_origins=portal_origin, public_url_is_live=True)
    snippet = (
        f'<div data-bantin-widget="{site.url}/"></div>'
        f'<script src="{site.url}/static/widget.js" defer></script>'
    )
    with _PortalServer(portal_port, PORTAL_PAGE.format(widget=snippet)):
        page = browser.new_page()
        page.goto(portal_origin + "/")
        page.get_by_label("E-mail").fill("giang@example.gov.vn")
        page.get_by_role("button", name="Đăng ký").click()
        page.locator(".bantin-status").filter(has_text="Cảm ơn bạn!").wait_for(timeout=30_000)
        assert page.url == portal_origin + "/"
        page.close()
    assert site.smtp.wait_for(1)[0].rcpt_tos == ["giang@example.gov.vn"]
