"""The digest HTML rendered by a real browser; the screenshot is kept for a person to look at."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import build_digest
from newsletter.campaigns.preview import composer_for
from newsletter.mail.outgoing import Recipient
from tests.support.browser import ARTIFACTS, CHROMIUM
from tests.support.composedata import NOW, add_article, add_categories, parts
from tests.support.requirements import require


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_digest_html_renders_in_chromium(
    db_backend: str, session: Session, settings_factory: Any, tmp_path: Path
) -> None:
    """Headless Chromium renders the digest's HTML part to a non-empty PNG in test-artifacts/."""
    require(CHROMIUM.exists(), "Debian chromium is missing: run `make browser-deps`")
    settings = settings_factory()
    news, notices = add_categories(session)
    for n in (1, 2, 4, 5, 7, 8):  # no thumbnails: the test machine has no internet
        add_article(session, n=n, category=news if n % 2 else notices, hours_ago=n * 7)
    campaign = build_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    message = composer_for(session, settings, campaign.id).compose(
        Recipient(1, 1, "an@example.vn", frozenset())
    )
    _, html = parts(message.data)
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "digest.html"
    page.write_text(html, encoding="utf-8")
    screenshot = ARTIFACTS / "digest.png"
    screenshot.unlink(missing_ok=True)
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={screenshot}",
         "--window-size=600,2000", page.as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000, "a blank page would compress to almost nothing"
