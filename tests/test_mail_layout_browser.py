"""Every kind of mail's HTML in Chromium at phone and desktop widths, with and without <style>.

Gmail's app with a non-Google account strips <style> blocks: the inlined styles alone must
hold the layout. The screenshots stay in pytest's temp dir for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route

from tests.support.allmail import (
    SentMail,
    keys_fixture,  # noqa: F401 - a fixture, found by name
    mails_fixture,  # noqa: F401 - a fixture, found by name
)
from tests.support.browser import browser_fixture  # noqa: F401 - a fixture, found by name
from tests.support.composedata import parts

WIDTHS = (320, 375, 600)
# A 1x1 PNG stands in for every remote image (the test machine has no internet).
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000202a7e6c1b40000000049454e44ae426082"
)
STYLE_BLOCK = re.compile(r"<style\b.*?</style>", re.DOTALL | re.IGNORECASE)


def _image(route: Route) -> None:
    route.fulfill(status=200, content_type="image/png", body=PIXEL)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_every_mail_fits_phone_and_desktop_widths(
    db_backend: str, mails: dict[str, SentMail], browser: Browser, tmp_path: Path
) -> None:
    """No mail scrolls sideways at 320, 375 or 600 px, with or without its <style> block."""
    shots = []
    for kind, mail in mails.items():
        _, html = parts(mail.data)
        for styled, source in (("styled", html), ("stripped", STYLE_BLOCK.sub("", html))):
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                try:
                    page.route(re.compile(r"^https?://"), _image)
                    page.set_content(source, wait_until="load")
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth"
                    )
                    shot = tmp_path / f"{kind}-{width}-{styled}.png"
                    page.screenshot(path=str(shot), full_page=True)
                finally:
                    page.close()
                assert overflow <= 0, f"{kind} at {width} px ({styled}) overflows by {overflow} px"
                shots.append(shot)
    assert all(s.read_bytes().startswith(b"\x89PNG") for s in shots)
    print(f"\nscreenshots in {tmp_path}")  # where to look, with pytest -s


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_digest_thumbnails_show_at_every_width(
    db_backend: str, mails: dict[str, SentMail], browser: Browser
) -> None:
    """Article thumbnails stay visible from phone to desktop width (no breakpoint hides them)."""
    _, html = parts(mails["digest"].data)
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 900})
        try:
            page.route(re.compile(r"^https?://"), _image)
            page.set_content(html, wait_until="load")
            widths = page.eval_on_selector_all(
                "td.thumb img", "images => images.map(i => i.getBoundingClientRect().width)"
            )
        finally:
            page.close()
        assert len(widths) == 3, "articles 3, 6 and 9 have an image"
        assert all(w >= 80 for w in widths), (width, widths)
