"""A real browser (Debian's chromium) walks "Quản lý đăng ký" and a change of address, on a
phone (375 px) and a desktop (1280 px) screen, and leaves screenshots in test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from newsletter.models import Subscriber, SubscriberStatus
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)
from tests.support.smtp import ReceivedMail

# The browser exercises pages, not the store: one backend is enough.
pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


def link(site: Site, mail: ReceivedMail, path: str) -> str:
    """The mail's link, on the site under test (the lane's worker builds links to the
    lane's PUBLIC_URL)."""
    body = mail.message.get_body(("plain",))
    assert body is not None
    found = re.search(rf"https?://[^/\s]+(/{path}/\S+)", body.get_content())
    assert found, body.get_content()
    return site.url + found.group(1)


def shot(page: Page, name: str, width: int) -> None:
    """Screenshot the page; nothing may stick out sideways on a phone."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [375, 1280])
def test_browser_gets_the_link_and_moves_to_a_new_address(
    site_factory: SiteFactory, browser: Browser, width: int
) -> None:
    """Type the address, open the mailed link, ask for a new address, confirm it there."""
    site = site_factory(public_url_is_live=True)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    with site.runtime.sessions.begin() as session:
        session.add(Subscriber(email="hoa@example.gov.vn", status=SubscriberStatus.ACTIVE))
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(site.url + "/manage")
    shot(page, "manage", width)
    page.get_by_label("E-mail đã đăng ký").fill("hoa@example.gov.vn")
    page.get_by_role("button", name="Gửi liên kết cho tôi").click()
    page.get_by_role("heading", name="Kiểm tra hộp thư của bạn").wait_for(timeout=30_000)
    shot(page, "manage-sent", width)
    [mail] = site.smtp.wait_for(1)
    preferences = link(site, mail, "preferences")
    page.goto(preferences)
    page.get_by_role("heading", name="Đổi địa chỉ e-mail").wait_for()
    shot(page, "preferences-change-address", width)
    page.get_by_label("Địa chỉ e-mail mới").fill("hoa.moi@example.gov.vn")
    page.get_by_role("button", name="Đổi địa chỉ").click()
    page.get_by_role("heading", name="Kiểm tra hộp thư mới").wait_for(timeout=30_000)
    shot(page, "change-address-sent", width)
    page.goto(preferences)
    page.get_by_text("Đang chờ xác nhận địa chỉ mới").wait_for()
    shot(page, "preferences-pending-address", width)
    [_, confirmation] = site.smtp.wait_for(2)
    assert confirmation.rcpt_tos == ["hoa.moi@example.gov.vn"]
    page.goto(link(site, confirmation, "change-address"))
    shot(page, "change-address-confirm", width)
    page.get_by_role("button", name="Xác nhận địa chỉ mới").click()
    page.get_by_role("heading", name="Đã đổi địa chỉ").wait_for(timeout=30_000)
    shot(page, "change-address-done", width)
    page.get_by_role("link", name="Quản lý đăng ký của bạn").click()
    assert page.get_by_text("hoa.moi@example.gov.vn").first.is_visible()
    page.goto(site.url + "/")
    page.get_by_role("link", name="Quản lý đăng ký").click()
    page.get_by_label("E-mail đã đăng ký").wait_for()
    page.goto(site.url + "/")
    shot(page, "subscribe-page", width)
    page.close()
