"""The admin and the residents' pages in Chromium at a phone's 375 px and a desk's 1280 px:
nothing wider than the screen, and a screenshot of each (test-artifacts/) to look at."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import insert, select, update

from newsletter.campaigns.audience import start_campaign
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber
from newsletter.signing import Purpose, make_token
from tests.support.admin import ADMIN_PASSWORD, create_admin
from tests.support.browser import ARTIFACTS, browser_fixture  # noqa: F401
from tests.support.ledger import add_campaign
from tests.support.public_site import (  # noqa: F401
    Site,
    SiteFactory,
    mail_lane_fixture,
    mail_lanes_fixture,
    site_factory_fixture,
)

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])

PHONE, DESK = 375, 1280
LONG_DOMAIN = "so-tai-nguyen-moi-truong.example.gov.vn"
LONG_ERROR = (
    "550 5.1.1 <nguyen.thi.thanh.huong.phuong.hoa.binh@so-tai-nguyen-moi-truong.example.gov.vn>:"
    " Recipient address rejected: User unknown in virtual mailbox table"
)


def fill(site: Site) -> dict[str, int]:
    """Subscribers with long addresses, a sent campaign with a long failure, a draft."""
    now = dt.datetime.now(dt.UTC)
    with site.runtime.sessions.begin() as s:
        s.execute(
            insert(Subscriber),
            [
                {
                    "email": f"nguyen.thi.thanh.huong.{i:03d}@{LONG_DOMAIN}",
                    "name": f"Nguyễn Thị Thanh Hương {i}",
                    "status": "active",
                }
                for i in range(60)
            ],
        )
        sent = add_campaign(s, subject="Thông báo lịch cắt điện khu vực phường Hòa Bình tuần tới")
        start_campaign(s, campaign_id=sent)
        s.execute(
            update(Delivery)
            .where(Delivery.campaign_id == sent)
            .values(status=DeliveryStatus.SENT, sent_at=now - dt.timedelta(seconds=5))
        )
        first = s.scalars(select(Delivery.id).where(Delivery.campaign_id == sent).limit(1)).one()
        s.execute(
            update(Delivery)
            .where(Delivery.id == first)
            .values(status=DeliveryStatus.FAILED, sent_at=None, last_error=LONG_ERROR)
        )
        campaign = s.get(Campaign, sent)
        assert campaign is not None
        campaign.status, campaign.finished_at = CampaignStatus.SENT, now
        draft = add_campaign(s, subject="Bản nháp: tiêm chủng mở rộng")
        subscriber = s.scalars(select(Subscriber.id).limit(1)).one()
    return {"sent": sent, "draft": draft, "subscriber": subscriber}


def check(page: Page, path: str, name: str) -> None:
    """Open `path` at both widths: no horizontal overflow on the phone; screenshots."""
    for width in (PHONE, DESK):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(path)
        page.wait_for_load_state("load")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-top.png"))  # the first screen
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{path} is {overflow} px wide on a {width} px screen"


def test_admin_pages_fit_a_phone(site_factory: SiteFactory, browser: Browser) -> None:
    """Every admin page, its error page and the login form fit a 375 px screen: wide
    tables scroll inside their own box."""
    site = site_factory(public_url_is_live=True)
    ids = fill(site)
    create_admin(site.runtime.engine)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": PHONE, "height": 900})
    page.set_default_timeout(20_000)
    check(page, f"{site.url}/admin/login", "admin-login")
    page.goto(f"{site.url}/admin/campaigns/{ids['sent']}")  # → the login form, then back
    page.get_by_label("Username").fill("canbo")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/admin/campaigns/{ids['sent']}")
    assert page.get_by_role("button").all_inner_texts()[-1] == "Retry 1 failed"
    for path, name in [
        ("/admin/", "admin-dashboard"),
        ("/admin/subscribers", "admin-subscribers"),
        (f"/admin/subscribers/{ids['subscriber']}", "admin-subscriber"),
        (f"/admin/campaigns/{ids['sent']}", "admin-campaign"),
        ("/admin/bulletins/new", "admin-bulletin-new"),
        (f"/admin/bulletins/{ids['draft']}", "admin-bulletin-preview"),
        ("/admin/campaigns/999999", "admin-error-404"),
    ]:
        check(page, f"{site.url}{path}", name)


def test_resident_pages_fit_a_phone(site_factory: SiteFactory, browser: Browser) -> None:
    """The thank-you page (with a typo hint) and the preferences page fit 375 px."""
    site = site_factory(public_url_is_live=True)
    site.add_categories(("tin-tuc", "Tin tức"), ("thong-bao", "Thông báo"))
    ARTIFACTS.mkdir(exist_ok=True)
    # Without JavaScript, as the no-JS form works: the answer is the thank-you page.
    context = browser.new_context(
        viewport={"width": PHONE, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{site.url}/")
    page.get_by_label("E-mail").fill("nguyen.thi.thanh.huong@gmial.com")
    page.get_by_role("button", name="Đăng ký").click()
    page.wait_for_url(f"{site.url}/subscribe")
    assert "Có phải bạn muốn nhập" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / f"resident-thanks-{PHONE}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    with site.runtime.sessions() as s:
        subscriber = s.scalars(select(Subscriber.id)).one()
    token = make_token(site.settings, Purpose.PREFERENCES, subscriber)
    check(page, f"{site.url}/preferences/{token}", "resident-preferences")
