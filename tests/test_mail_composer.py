"""Composed digests and bulletins, parsed back with the stdlib parser and compared to intent."""

from __future__ import annotations

import re
import secrets
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from newsletter.campaigns.build import CampaignError, build_digest, create_bulletin
from newsletter.campaigns.preview import composer_for, composer_for_campaign
from newsletter.mail.composer import MAX_MESSAGE_BYTES, CampaignComposer
from newsletter.mail.links import LinkMinter
from newsletter.mail.outgoing import Recipient
from newsletter.models import Campaign
from newsletter.signing import (
    Purpose,
    make_resident_token,
    make_token,
    read_resident_token,
    read_token,
)
from tests.support.composedata import (
    NOW,
    TONE_MARKS,
    add_article,
    add_categories,
    parse,
    parts,
)
from tests.support.dkimkeys import DOMAIN, SELECTOR, DkimKeys, make_keys

FIXED_CLOCK = 1_764_290_000.0  # 2025-11-28, before the test DNS keys' "now"

LINK_KEY = "5f2b8c0d9e1a4b7c8d3e6f0a1b2c3d4e"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DkimKeys:
    return make_keys(tmp_path_factory.mktemp("dkim"))


def digest_with_articles(session: Session, settings: Any) -> tuple[Campaign, int, int]:
    news, notices = add_categories(session)
    for n in range(6):
        add_article(session, n=n, category=news if n % 2 else notices, hours_ago=10 + n)
    campaign = build_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    return campaign, news.id, notices.id


def fixed(composer: Any) -> CampaignComposer:
    assert isinstance(composer, CampaignComposer)
    composer.clock = lambda: FIXED_CLOCK
    composer.message_ids = lambda r: f"<{r.delivery_id}.test@example.gov.vn>"
    return composer


def test_digest_headers_and_parts(session: Session, settings_factory: Any) -> None:
    """A digest parses back with every header and part as meant, raw headers all ASCII."""
    settings = settings_factory()
    campaign, news_id, _ = digest_with_articles(session, settings)
    composer = composer_for(session, settings, campaign.id)
    out = composer.compose(Recipient(41, 7, "lan@bưuđiện.vn", frozenset({news_id}), LINK_KEY))
    head = out.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    msg = parse(out.data)
    assert msg["From"].addresses[0].display_name == "Bản tin Thành phố Hoa Sen"
    assert msg["From"].addresses[0].addr_spec == "bantin@example.gov.vn"
    assert msg["To"] == out.recipient == "lan@xn--buin-1ua66gr30m.vn"
    # The subject leads with the top headline of what this subscriber gets (news only here).
    assert msg["Subject"] == (
        "Bài số 1: Thành phố triển khai phòng chống bão và 2 tin khác — Bản tin tuần"
    )
    assert campaign.subject == (
        "Bài số 0: Thành phố triển khai phòng chống bão và 5 tin khác — Bản tin tuần"
    )
    assert abs(parsedate_to_datetime(msg["Date"]).timestamp() - NOW.timestamp()) < 10**9
    assert msg["Message-ID"] == out.message_id
    assert out.message_id.endswith("@example.gov.vn>")
    assert msg["List-Id"] == "Thành phố Hoa Sen <newsletter.example.gov.vn>"
    token = make_resident_token(settings, Purpose.UNSUBSCRIBE, 7, LINK_KEY)
    # No BOUNCE_DOMAIN: nothing would read a mail to a mailto, so none is advertised.
    assert msg["List-Unsubscribe"] == f"<https://bantin.example.gov.vn/unsubscribe/{token}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Precedence"] == "bulk"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["MIME-Version"] == "1.0"
    assert out.envelope_from == "bantin@example.gov.vn"
    text, html = parts(out.data)
    preferences = "https://bantin.example.gov.vn/preferences/" + make_resident_token(
        settings, Purpose.PREFERENCES, 7, LINK_KEY
    )
    for body in (text, html):
        assert f"https://bantin.example.gov.vn/archive/{campaign.id}" in body
        assert f"https://bantin.example.gov.vn/unsubscribe/{token}" in body
        assert preferences in body
        assert "Số 1 Đường Trung Tâm" in body
        assert "(0200) 3 123 456" in body
        # Only the chosen category: odd articles are news, even ones notices.
        assert "Bài số 1:" in body
        assert "Bài số 5:" in body
        assert "Bài số 2:" not in body
    assert "Xem trên trình duyệt" in html
    assert "Hủy đăng ký nhận tin" in html
    assert "Bạn nhận được thư này vì đã đăng ký" in text
    assert "Thứ Sáu, 27/11/2026" in text, "dates in Vietnamese, in the portal's time zone"
    assert 'style="' in html, "CSS is inlined"
    assert "Tin tức – Sự kiện" in html
    assert "Mục lục" in html


def test_every_category_and_unknown_sets(session: Session, settings_factory: Any) -> None:
    """No chosen categories means every category; the table of contents follows position order."""
    settings = settings_factory()
    campaign, _, _ = digest_with_articles(session, settings)
    composer = composer_for(session, settings, campaign.id)
    text, _ = parts(composer.compose(Recipient(1, 2, "an@example.vn", frozenset())).data)
    assert all(f"Bài số {n}:" in text for n in range(6))
    toc = text.split("MỤC LỤC", 1)[1]
    assert toc.index("Tin tức – Sự kiện") < toc.index("Thông báo")


@pytest.mark.parametrize("with_dkim", [False, True], ids=["plain", "dkim"])
def test_segment_render_equals_per_subscriber_render(
    session: Session, settings_factory: Any, keys: DkimKeys, with_dkim: bool
) -> None:
    """Filling the per-segment template gives the very bytes of rendering for that subscriber."""
    dkim = {"dkim_domain": DOMAIN, "dkim_selector": SELECTOR, "dkim_key_file": keys.rsa_file,
            "dkim_ed25519_key_file": keys.ed25519_file} if with_dkim else {}  # fmt: skip
    settings = settings_factory(bounce_domain="bounce.example.gov.vn", **dkim)
    campaign, news_id, notices_id = digest_with_articles(session, settings)
    bulletin = create_bulletin(
        session, subject=TONE_MARKS, body_markdown="**Khẩn**: sơ tán.", category_slugs=[],
        created_by="admin",
    )  # fmt: skip
    for campaign_id in (campaign.id, bulletin.id):
        composer = fixed(composer_for(session, settings, campaign_id))
        for recipient in [
            Recipient(1, 10, "an@example.vn", frozenset({news_id})),
            Recipient(2, 11, "binh@ví-dụ.vn", frozenset({news_id})),
            Recipient(3, 12345678, "chi@example.vn", frozenset({news_id, notices_id})),
            Recipient(4, 13, "dung@example.vn", frozenset()),
        ]:
            fast = composer.compose(recipient)
            slow = composer.compose_slow(recipient)
            assert fast == slow
            if with_dkim:
                assert keys.verify_all(fast.data) == [True, True]


def test_bulletin_headers_and_sanitised_body(session: Session, settings_factory: Any) -> None:
    """A bulletin keeps its exact Vietnamese subject, is marked bulk, and loses any script."""
    settings = settings_factory()
    add_categories(session)
    bulletin = create_bulletin(
        session,
        subject=TONE_MARKS,
        body_markdown="# Cảnh báo\n\n**Nước lên** nhanh. <script>alert(1)</script>\n\n"
        "[Bản đồ](https://example.gov.vn/ban-do) [x](javascript:alert(1))",
        category_slugs=["thong-bao"],
        created_by="admin",
    )
    assert [c.slug for c in bulletin.categories] == ["thong-bao"]
    out = composer_for(session, settings, bulletin.id).compose(
        Recipient(5, 9, "an@example.vn", frozenset())
    )
    assert out.data.split(b"\r\n\r\n", 1)[0].isascii()
    msg = parse(out.data)
    assert msg["Subject"] == TONE_MARKS
    # Bulk, so that out-of-office responders (RFC 3834) stay silent; no Reply-To is set.
    assert msg["Precedence"] == "bulk"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Reply-To"] is None
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(out.data)
    assert "<strong>Nước lên</strong>" in html
    assert '<a href="https://example.gov.vn/ban-do"' in html
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert "<h1>Cảnh báo</h1>" in html
    assert "Nước lên nhanh." in text
    assert "Bản đồ (https://example.gov.vn/ban-do)" in text


def test_verp_return_path_per_delivery(session: Session, settings_factory: Any) -> None:
    """With BOUNCE_DOMAIN the envelope sender names the delivery in a signed VERP token."""
    settings = settings_factory(bounce_domain="bounce.example.gov.vn")
    campaign, _, _ = digest_with_articles(session, settings)
    out = composer_for(session, settings, campaign.id).compose(
        Recipient(987654, 3, "an@example.vn", frozenset())
    )
    local, _, domain = out.envelope_from.partition("@")
    assert domain == "bounce.example.gov.vn"
    assert local.startswith("bounces+")
    assert read_token(settings, Purpose.VERP, local.removeprefix("bounces+")) == 987654
    mailto = parse(out.data)["List-Unsubscribe"].split("mailto:")[1].rstrip(">")
    assert mailto.endswith("@bounce.example.gov.vn")


def test_injection_through_article_titles(session: Session, settings_factory: Any) -> None:
    """An article title can add no header, no markup and no link scheme to the mail."""
    settings = settings_factory()
    news, _ = add_categories(session)
    add_article(
        session, n=1, category=news, hours_ago=1,
        title="Tin\r\nBcc: victim@example.com\r\n\r\n<script>alert(1)</script><b>đậm</b>",
        url="javascript:alert(1)",
    )  # fmt: skip
    campaign = build_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    out = composer_for(session, settings, campaign.id).compose(
        Recipient(1, 1, "an@example.vn", frozenset())
    )
    msg = parse(out.data)
    assert msg["Bcc"] is None
    assert msg["Subject"].startswith("Tin Bcc: victim@example.com <script>"), "one line"
    text, html = parts(out.data)
    assert "<script>" not in html
    assert "<b>đậm</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;đậm&lt;/b&gt;" in html
    assert "javascript:" not in html
    assert "javascript:" not in text
    assert "• Tin Bcc: victim@example.com <script>" in text, "the title stays on one line"


def test_bulletin_subject_with_line_break_is_refused(session: Session) -> None:
    """A bulletin subject holding a line break or control character never becomes a campaign."""
    for subject in ["Tin\r\nBcc: victim@example.com", "Tin\nX: 1", "nul\x00", "   "]:
        with pytest.raises(CampaignError):
            create_bulletin(
                session, subject=subject, body_markdown="x", category_slugs=[], created_by="a"
            )


def test_long_digest_is_cut_to_fit_under_the_cap(session: Session, settings_factory: Any) -> None:
    """A digest too long for one mail shows the newest articles and a "Xem tất cả" link."""
    settings = settings_factory()
    news, _ = add_categories(session)
    summary = (
        "<p>" + "Ủy ban nhân dân thành phố thông báo về việc điều chỉnh giờ cấp nước. " * 5 + "</p>"
    )
    for n in range(300):
        add_article(session, n=n, category=news, hours_ago=1 + n * 0.5, summary=summary)
    campaign = build_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    composer = composer_for(session, settings, campaign.id)
    out = composer.compose(Recipient(1, 1, "an@example.vn", frozenset()))
    assert len(out.data) < MAX_MESSAGE_BYTES
    text, html = parts(out.data)
    shown = re.search(r"chỉ hiện (\d+) bài mới nhất trong tổng số 300 bài", text)
    assert shown is not None
    assert 10 < int(shown.group(1)) < 300
    assert "Xem tất cả" in html
    assert f"/archive/{campaign.id}" in html
    assert "Bài số 0:" in html, "the newest article is kept"
    assert "Bài số 299:" not in html, "the oldest article is left out"


def test_link_minter_makes_the_tokens_tokens_py_makes(settings_factory: Any) -> None:
    """The fast token minter gives exactly the signing module's tokens for every purpose."""
    settings = settings_factory()
    minter = LinkMinter(settings)
    for subject_id in [0, 1, 7, 99, 12345, 2**31, 10**12]:
        assert minter.verp_token(subject_id) == make_token(settings, Purpose.VERP, subject_id)
        for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES):
            for key in (LINK_KEY, secrets.token_hex(16), "k"):
                token = minter.token(purpose, subject_id, key)
                reference = make_resident_token(settings, purpose, subject_id, key)
                # itsdangerous compresses a repetitive payload (an id like 10**12); the
                # minter never tries, and both forms read back alike.
                if not reference.startswith("."):
                    assert token == reference
                assert read_resident_token(settings, purpose, token) == (subject_id, key)


def test_unsaved_digest_composes_with_archive_index_link(
    session: Session, settings_factory: Any
) -> None:
    """A digest previewed before it is stored links "Xem trên trình duyệt" to the archive index."""
    from newsletter.campaigns.build import plan_digest

    settings = settings_factory()
    news, _ = add_categories(session)
    add_article(session, n=1, category=news, hours_ago=2)
    campaign = plan_digest(session, settings=settings, now=NOW)
    assert campaign is not None
    assert campaign.id is None
    composer = composer_for_campaign(session, settings, campaign)
    _, html = parts(composer.compose(Recipient(0, 1, "an@example.vn", frozenset())).data)
    assert 'href="https://bantin.example.gov.vn/archive"' in html


def test_segment_without_articles_says_so(session: Session, settings_factory: Any) -> None:
    """A subscriber whose categories had no article this week is flagged and told so if sent."""
    settings = settings_factory()
    campaign, news_id, _ = digest_with_articles(session, settings)
    composer = composer_for(session, settings, campaign.id)
    assert isinstance(composer, CampaignComposer)
    assert composer.has_content(frozenset({news_id}))
    assert not composer.has_content(frozenset({999}))
    text, html = parts(composer.compose(Recipient(1, 1, "an@example.vn", frozenset({999}))).data)
    assert "chưa có bài mới trong các chuyên mục bạn chọn" in text
    assert "chưa có bài mới trong các chuyên mục bạn chọn" in html
    assert "MỤC LỤC" not in text


def test_templates_dir_overrides_one_file(
    session: Session, settings_factory: Any, tmp_path: Any
) -> None:
    """A file in NEWSLETTER_TEMPLATES_DIR replaces that one template; the others stay."""
    (tmp_path / "tpl" / "email").mkdir(parents=True)
    (tmp_path / "tpl" / "email" / "digest.subject.txt").write_text(
        "Tin tuần của {{ org.short_name }} ({{ date_to }})\n", encoding="utf-8"
    )
    settings = settings_factory(templates_dir=tmp_path / "tpl")
    campaign, _, _ = digest_with_articles(session, settings)
    out = composer_for(session, settings, campaign.id).compose(
        Recipient(1, 1, "an@example.vn", frozenset())
    )
    assert parse(out.data)["Subject"] == "Tin tuần của Thành phố Hoa Sen (28/11/2026)"
    text, _ = parts(out.data)
    assert "MỤC LỤC" in text
