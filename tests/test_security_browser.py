"""Chromium honours the frame policy: a portal may frame the box, no site may frame the rest.

The portals are pages on other loopback origins (tests/support/feedserver.py serves them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import browser_fixture  # noqa: F401
from tests.support.feedserver import FeedServer
from tests.support.public_site import (  # noqa: F401
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.fixture
def portals() -> Iterator[tuple[FeedServer, FeedServer]]:
    """Two web sites on their own origins: one the service allows, one it does not."""
    allowed, other = FeedServer(), FeedServer()
    allowed.start()
    other.start()
    yield allowed, other
    allowed.stop()
    other.stop()


def framed(page: Page, portal: FeedServer, service: str, path: str) -> str:
    """Open a portal page that frames `service + path`; the URL the frame ended on."""
    html = f'<!doctype html><meta charset="utf-8"><iframe id="f" src="{service}{path}"></iframe>'
    page.goto(portal.serve("/", html.encode(), Content_Type="text/html; charset=utf-8"))
    element = page.wait_for_selector("#f")
    assert element is not None
    frame = element.content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    return frame.url


def test_only_the_box_is_framable_and_only_by_allowed_portals(
    site_factory: SiteFactory, browser: Browser, portals: tuple[FeedServer, FeedServer]
) -> None:
    """The allowed portal shows /widget in a frame; /preferences and other portals get blocked."""
    allowed, other = portals
    site = site_factory(allowed_origins=allowed.url("").rstrip("/"))
    page = browser.new_page()
    try:
        assert framed(page, allowed, site.url, "/widget") == f"{site.url}/widget"
        heading = page.frame_locator("#f").get_by_role("heading", name="ĐĂNG KÝ NHẬN TIN")
        heading.wait_for(timeout=30_000)
        for path in ("/preferences/x", "/"):
            assert framed(page, allowed, site.url, path).startswith("chrome-error://")
        assert framed(page, other, site.url, "/widget").startswith("chrome-error://")
    finally:
        page.close()


def test_pages_render_under_the_content_security_policy(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """Chromium loads the resident pages and the login page with nothing refused by the
    Content-Security-Policy, styles applied (the honeypot field stays out of sight) and
    the box's script running."""
    site = site_factory(public_url_is_live=True)
    page = browser.new_page()
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    try:
        for path in ("/", "/widget", "/privacy", "/archive", "/admin/login"):
            page.goto(f"{site.url}{path}")
            page.wait_for_load_state("load")
        page.goto(f"{site.url}/")
        honeypot = page.locator(".bantin-hp").bounding_box()
        assert honeypot is not None
        assert honeypot["x"] < 0  # widget.css moved it off screen
        page.get_by_label("E-mail").fill("dan@example.gov.vn")
        page.get_by_role("button", name="Đăng ký").click()
        page.get_by_text("Cảm ơn bạn!").first.wait_for(timeout=30_000)
    finally:
        page.close()
    assert blocked == []
