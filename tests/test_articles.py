"""The article store: idempotent upsert, safe summaries, NFC, categories, dates (both DBs)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.content.articles import (
    ArticleInput,
    ArticleRejectedError,
    CategoryIndex,
    Outcome,
    article_from_mapping,
    plain_text,
    sanitize_html,
    upsert_article,
)
from newsletter.content.categories import add_category
from newsletter.content.parse import parse_feed
from newsletter.models import Article

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def upsert(session: Session, article: ArticleInput, default: int | None = None) -> Outcome:
    result = upsert_article(
        session,
        article=article,
        categories=CategoryIndex.load(session),
        default_category_id=default,
    )
    return result.outcome


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Article)) or 0


def test_same_guid_updates_never_duplicates(session: Session) -> None:
    """Re-ingesting a guid updates that article; identical content reports unchanged."""
    first = ArticleInput(guid="cms-1", url="https://example.gov.vn/a", title="Tin cũ")
    assert upsert(session, first) is Outcome.NEW
    changed = ArticleInput(guid="cms-1", url="https://example.gov.vn/a2", title="Tin mới")
    assert upsert(session, changed) is Outcome.UPDATED
    assert upsert(session, changed) is Outcome.UNCHANGED
    assert count(session) == 1
    article = session.scalars(select(Article)).one()
    assert (article.url, article.title) == ("https://example.gov.vn/a2", "Tin mới")


def test_without_guid_the_url_is_the_key(session: Session) -> None:
    """An article without a guid is matched by URL, including one stored with a guid."""
    upsert(session, ArticleInput(guid="cms-7", url="https://example.gov.vn/b", title="Một"))
    assert upsert(session, ArticleInput(url="https://example.gov.vn/b", title="Hai")) is (
        Outcome.UPDATED
    )
    assert upsert(session, ArticleInput(url="https://example.gov.vn/c", title="Ba")) is Outcome.NEW
    assert upsert(session, ArticleInput(url="https://example.gov.vn/c", title="Ba")) is (
        Outcome.UNCHANGED
    )
    assert count(session) == 2
    assert set(session.scalars(select(Article.guid))) == {"cms-7", "https://example.gov.vn/c"}


def test_text_is_stored_nfc(session: Session) -> None:
    """Decomposed Vietnamese (as some editors paste it) is stored composed (NFC)."""
    title = unicodedata.normalize("NFD", "Thông báo lịch cắt điện")
    upsert(
        session, ArticleInput(url="https://example.gov.vn/d", title=title, author="Phòng Văn hóa")
    )
    stored = session.scalars(select(Article)).one()
    assert stored.title == "Thông báo lịch cắt điện"
    assert unicodedata.is_normalized("NFC", stored.title)


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>Tin<script>alert(1)</script></p>", "alert"),
        ('<img src="https://example.gov.vn/a.jpg" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">bấm</a>', "javascript"),
        ('<a href="JaVaScRiPt&colon;alert(1)">bấm</a>', "alert"),
        ('<img src="data:image/png;base64,AAAA">', "data:"),
        ('<a href="/relative">x</a>', "/relative"),
        ('<p style="background:url(x)" onclick="x()">y</p>', "onclick"),
        ("<iframe src='https://evil.example'></iframe>ok", "iframe"),
        ("<svg><script>alert(1)</script></svg>", "script"),
    ],
)
def test_summaries_lose_everything_active(dirty: str, forbidden: str) -> None:
    """Scripts, handlers, javascript:/data: and relative URLs never survive sanitising."""
    assert forbidden.lower() not in sanitize_html(dirty).lower()


def test_safe_markup_survives() -> None:
    """Paragraphs, emphasis, http(s) links and images are kept (links get rel=noopener)."""
    clean = sanitize_html(
        '<p>Xem <a href="https://example.gov.vn/x">chi tiết</a> <strong>tại đây</strong>'
        '<img src="https://example.gov.vn/i.jpg" alt="ảnh"></p>'
    )
    assert '<a href="https://example.gov.vn/x" rel="noopener noreferrer">chi tiết</a>' in clean
    assert '<img src="https://example.gov.vn/i.jpg" alt="ảnh">' in clean
    assert "<strong>tại đây</strong>" in clean


def test_plain_text_feed_content_is_escaped_not_run(session: Session) -> None:
    """text/plain summaries (left raw by feedparser) stay inert text; titles lose their tags."""
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>t</title><id>urn:t</id><updated>2026-11-20T00:00:00Z</updated>"
        "<entry><id>urn:e1</id><title type='text'>A &amp; B &lt;i&gt;</title>"
        "<link href='https://example.gov.vn/e1'/><updated>2026-11-20T00:00:00Z</updated>"
        "<summary type='text'>&lt;script&gt;alert(1)&lt;/script&gt; Tôm &amp; cá</summary>"
        "</entry></feed>"
    ).encode()
    entry = parse_feed(atom).entries[0]
    upsert(session, entry)
    stored = session.scalars(select(Article)).one()
    assert "<script" not in stored.summary
    assert stored.summary == "&lt;script&gt;alert(1)&lt;/script&gt; Tôm &amp; cá"
    assert stored.title == "A & B"


def test_categories_match_by_slug_or_name_else_default(session: Session) -> None:
    """An entry's categories map to ours by slug or by case-insensitive NFC name."""
    news = add_category(session, slug="tin-tuc", name="Tin tức")
    notices = add_category(session, slug="thong-bao", name="Thông báo")
    culture = add_category(session, slug="van-hoa-xa-hoi", name="Văn hóa – Xã hội")
    cases = {
        "1": (("thong-bao",), notices.id),
        "2": ((unicodedata.normalize("NFD", "VĂN HÓA – XÃ HỘI"),), culture.id),
        "3": (("Thể thao", "tin tức"), news.id),
        "4": (("Thể thao",), notices.id),
    }
    for number, (labels, _) in cases.items():
        upsert(
            session,
            ArticleInput(url=f"https://example.gov.vn/{number}", title="t", categories=labels),
            default=notices.id,
        )
    stored = {a.url[-1]: a.category_id for a in session.scalars(select(Article))}
    assert stored == {number: expected for number, (_, expected) in cases.items()}


def test_missing_date_is_first_seen_and_kept_on_repush(session: Session) -> None:
    """No date: the time first seen; a later push without a date keeps it."""
    seen = dt.datetime(2026, 11, 20, 1, 2, 3, tzinfo=dt.UTC)
    upsert_article(
        session,
        article=ArticleInput(guid="g", url="https://example.gov.vn/g", title="t"),
        categories=CategoryIndex([]),
        now=seen,
    )
    upsert(session, ArticleInput(guid="g", url="https://example.gov.vn/g", title="t2"))
    session.expire_all()
    assert session.scalars(select(Article.published_at)).one() == seen


def test_naive_dates_are_in_the_configured_timezone() -> None:
    """A date without an offset is read in NEWSLETTER_TIMEZONE; RFC 2822 dates are accepted."""
    item = article_from_mapping(
        {"url": "https://example.gov.vn/x", "title": "t", "published_at": "2026-11-20T08:00:00"},
        timezone=HCM,
    )
    assert item.published_at == dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
    rfc = article_from_mapping(
        {
            "url": "https://example.gov.vn/x",
            "title": "t",
            "published": "Fri, 20 Nov 2026 08:00:00 +0700",
        },
        timezone=HCM,
    )
    assert rfc.published_at == item.published_at


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": "t"}, "url is missing"),
        ({"url": "javascript:alert(1)", "title": "t"}, "not an absolute http"),
        ({"url": "/tin/1", "title": "t"}, "not an absolute http"),
        ({"url": "https://example.gov.vn/x", "title": "<b></b>  "}, "title is empty"),
        (
            {"url": "https://example.gov.vn/x", "title": "t", "published_at": "hôm qua"},
            "not a date",
        ),
    ],
)
def test_bad_articles_are_rejected_with_a_reason(
    session: Session, fields: dict[str, str], reason: str
) -> None:
    """A record missing a usable URL, title or date is rejected, naming the problem."""
    with pytest.raises(ArticleRejectedError, match=reason):
        upsert(session, article_from_mapping(fields, timezone=HCM))
    assert count(session) == 0


def test_image_must_be_http(session: Session) -> None:
    """A data: or javascript: image URL is dropped; the article is still kept."""
    upsert(
        session,
        ArticleInput(
            url="https://example.gov.vn/i", title="t", image_url="data:image/png;base64,AA"
        ),
    )
    assert session.scalars(select(Article.image_url)).one() is None


def test_html_entities_in_feeds_are_understood() -> None:
    """`&nbsp;`/`&eacute;` (HTML, not XML, entities) do not make a feed malformed."""
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        b"<title>Caf&eacute;&nbsp;s&aacute;ch &amp; tr&agrave;</title>"
        b"<link>https://example.gov.vn/c</link></item></channel></rss>"
    )
    entry = parse_feed(feed).entries[0]
    assert plain_text(entry.title) == "Café sách & trà"
