"""The public archive: sent digests and bulletins as web pages, with no personal links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from newsletter.campaigns.build import build_digest, create_bulletin
from newsletter.models import CampaignStatus
from newsletter.runtime import build_runtime
from newsletter.web.app import create_app
from tests.support.composedata import NOW, add_article, add_categories
from tests.support.webserver import serve


@pytest.fixture
def site(database_url: str, settings_factory: Any) -> Iterator[tuple[httpx.Client, dict[str, int]]]:
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    with runtime.sessions.begin() as session:
        news, notices = add_categories(session)
        add_article(session, n=1, category=news, hours_ago=3, title="Khánh thành cầu <Hoa Sen>")
        add_article(session, n=2, category=notices, hours_ago=4)
        digest = build_digest(session, settings=settings, now=NOW)
        assert digest is not None
        digest.status = CampaignStatus.SENT
        sent = create_bulletin(
            session, subject="Cúp điện Phường Hòa Bình", body_markdown="Từ **8 giờ**.",
            category_slugs=["thong-bao"], created_by="admin",
        )  # fmt: skip
        sent.status = CampaignStatus.SENDING
        draft = create_bulletin(
            session, subject="Bản nháp chưa gửi", body_markdown="x", category_slugs=[],
            created_by="admin",
        )  # fmt: skip
        session.flush()
        ids = {"digest": digest.id, "bulletin": sent.id, "draft": draft.id}
    with serve(create_app(settings, runtime)) as client:
        yield client, ids


def test_archive_lists_what_went_out(site: tuple[httpx.Client, dict[str, int]]) -> None:
    """GET /archive lists sent and sending campaigns, newest first, and never a draft."""
    client, ids = site
    page = client.get("/archive")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'/archive/{ids["digest"]}"' in page.text
    assert f'/archive/{ids["bulletin"]}"' in page.text
    assert "Cúp điện Phường Hòa Bình" in page.text
    assert "Bản nháp chưa gửi" not in page.text
    assert f'/archive/{ids["draft"]}"' not in page.text


def test_archive_copy_has_everything_but_personal_links(
    site: tuple[httpx.Client, dict[str, int]],
) -> None:
    """A digest's web copy shows every category's articles, escaped, without any token link."""
    client, ids = site
    page = client.get(f"/archive/{ids['digest']}")
    assert page.status_code == 200
    assert "Khánh thành cầu &lt;Hoa Sen&gt;" in page.text
    assert "Bài số 2:" in page.text
    assert "/unsubscribe/" not in page.text
    assert "/preferences/" not in page.text
    assert "Đăng ký nhận bản tin" in page.text
    bulletin = client.get(f"/archive/{ids['bulletin']}")
    assert "<strong>8 giờ</strong>" in bulletin.text


@pytest.mark.parametrize("which", ["draft", "missing"])
def test_unpublished_or_unknown_campaign_is_not_found(
    site: tuple[httpx.Client, dict[str, int]], which: str
) -> None:
    """A draft or an unknown id answers 404, so drafts never leak through the archive."""
    client, ids = site
    campaign_id = ids["draft"] if which == "draft" else 999_999
    assert client.get(f"/archive/{campaign_id}").status_code == 404
