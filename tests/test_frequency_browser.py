"""The frequency choice in Chromium at a phone's 375 px and a desk's 1280 px: it fits with
no horizontal scroll, and it is sent with JavaScript (JSON) and without (plain form)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from newsletter.models import Frequency, Subscriber
from newsletter.signing import Purpose, make_resident_token
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

PHONE, DESK = 375, 1280


def fits(page: Page, url: str, name: str) -> None:
    """`url` at both widths: no horizontal scroll, the choice inside the screen; screenshots."""
    for width in (PHONE, DESK):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.wait_for_load_state("load")
        choice = page.locator("fieldset.bantin-frequency")
        choice.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        box = choice.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width


def frequency_of(site: Site, email: str) -> Frequency:
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return row.frequency


def test_subscribe_box_choice_fits_and_is_sent_by_the_script(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """The subscribe page and the bare widget fit 375 px; with JavaScript the box sends the
    checked radio button (not the last one) as JSON."""
    site = site_factory(public_url_is_live=True)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    page.set_default_timeout(20_000)
    fits(page, f"{site.url}/", "frequency-subscribe")
    fits(page, f"{site.url}/widget", "frequency-widget")
    page.set_viewport_size({"width": PHONE, "height": 900})
    page.goto(f"{site.url}/")
    page.get_by_label("E-mail").fill("giao@example.vn")
    page.get_by_role("radio", name=re.compile("^Hằng ngày")).check()
    page.get_by_role("button", name="Đăng ký").click()
    page.locator(".bantin-status").filter(has_text="Cảm ơn bạn!").wait_for(timeout=30_000)
    assert page.url == f"{site.url}/"  # answered in place, by the script
    page.close()
    assert frequency_of(site, "giao@example.vn") is Frequency.DAILY


def test_choice_works_without_javascript_and_on_the_preferences_page(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """Without JavaScript the plain form sends the choice; the preferences page fits 375 px,
    shows it checked and changes it."""
    site = site_factory(public_url_is_live=True)
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{site.url}/")
    page.get_by_label("E-mail").fill("hanh@example.vn")
    page.get_by_role("radio", name=re.compile("^Ngay khi có tin mới")).check()
    page.get_by_role("button", name="Đăng ký").click()
    page.get_by_role("heading", name="Cảm ơn bạn!").wait_for()
    assert frequency_of(site, "hanh@example.vn") is Frequency.IMMEDIATELY
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber)).one()
        token = make_resident_token(site.settings, Purpose.PREFERENCES, row.id, row.link_key)
    url = f"{site.url}/preferences/{token}"
    fits(page, url, "frequency-preferences")
    page.set_viewport_size({"width": PHONE, "height": 900})
    page.goto(url)
    assert page.get_by_role("radio", name=re.compile("^Ngay khi có tin mới")).is_checked()
    page.get_by_role("radio", name=re.compile("^Hằng tuần")).check()
    page.get_by_role("button", name="Lưu thay đổi").click()
    page.get_by_text("Đã lưu lựa chọn của bạn").wait_for()
    page.screenshot(path=str(ARTIFACTS / f"frequency-preferences-saved-{PHONE}.png"))
    context.close()
    assert frequency_of(site, "hanh@example.vn") is Frequency.WEEKLY
