"""The subscribe box with areas (khu vực) in a real browser (Debian's chromium): on a
375 px phone and a 1280 px screen, with and without JavaScript, no sideways scrolling.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from newsletter.models import Subscriber
from newsletter.subscribers.areas import DEMO_AREAS, add_area
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


def city_site(site_factory: SiteFactory) -> Site:
    site = site_factory(public_url_is_live=True)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    with site.runtime.sessions.begin() as session:
        for code, name, parent in DEMO_AREAS:
            add_area(session, code=code, name=name, parent_code=parent)
    return site


def areas_of(site: Site, email: str) -> list[str]:
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        return [a.code for a in row.areas]


def choose_and_look(page: Page, site: Site, width: int) -> None:
    page.goto(site.url + "/")
    page.get_by_text("Chọn phường, xã").click()  # unfolds the list (<details>, no script)
    page.get_by_label("Phường Thạch Thang").check()
    page.get_by_label("Xã Hòa Phong").check()
    assert page.get_by_text("Không chọn khu vực nào").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"subscribe-areas-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_phone_without_javascript_chooses_areas(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """At 375 px without JavaScript the folded list opens, fits the screen, and the plain
    form post stores the ticked areas."""
    site = city_site(site_factory)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800})
    page = context.new_page()
    choose_and_look(page, site, 375)
    page.get_by_label("E-mail").fill("hoa@example.gov.vn")
    page.get_by_role("button", name="Đăng ký").click()
    page.get_by_role("heading", name="Cảm ơn bạn!").wait_for(timeout=30_000)
    context.close()
    assert areas_of(site, "hoa@example.gov.vn") == ["phuong-thach-thang", "xa-hoa-phong"]


def test_wide_screen_with_javascript_sends_areas_as_json(
    site_factory: SiteFactory, browser: Browser
) -> None:
    """At 1280 px the box submits in place (JSON) with the ticked areas as a list."""
    site = city_site(site_factory)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    choose_and_look(page, site, 1280)
    page.get_by_label("Tin tức").check()
    page.get_by_label("E-mail").fill("lan@example.gov.vn")
    page.get_by_role("button", name="Đăng ký").click()
    page.locator(".bantin-status").filter(has_text="Cảm ơn bạn!").wait_for(timeout=30_000)
    assert page.url == site.url + "/"
    page.close()
    assert areas_of(site, "lan@example.gov.vn") == ["phuong-thach-thang", "xa-hoa-phong"]
    with site.runtime.sessions() as session:
        row = session.scalars(select(Subscriber).where(Subscriber.email == "lan@example.gov.vn"))
        assert [c.slug for c in row.one().categories] == ["tin-tuc"]
