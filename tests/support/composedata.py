"""Shared data for the composition tests: categories, articles, a digest, a bulletin."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy.orm import Session

from newsletter.models import Article, Category

NOW = dt.datetime(2026, 11, 28, 0, 30, tzinfo=dt.UTC)  # Saturday 07:30 in Hà Nội
TONE_MARKS = (
    "Thông báo khẩn: Bão số 9 — àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ "
    "ùúủũụ ừứửữự ỳýỷỹỵ đĐ  hai  dấu cách"
)


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(raw: bytes) -> tuple[str, str]:
    """The text and HTML of a multipart/alternative message, line ends as LF."""
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/alternative"
    plain, rich = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert rich.get_content_type() == "text/html"
    text: str = plain.get_content()  # type: ignore[attr-defined]
    html: str = rich.get_content()  # type: ignore[attr-defined]
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")


def add_categories(session: Session) -> tuple[Category, Category]:
    news = Category(slug="tin-tuc", name="Tin tức – Sự kiện", position=0)
    notices = Category(slug="thong-bao", name="Thông báo", position=1)
    session.add_all([news, notices])
    session.flush()
    return news, notices


def add_article(
    session: Session,
    *,
    n: int,
    category: Category | None,
    hours_ago: float,
    title: str | None = None,
    summary: str = "<p>Ủy ban nhân dân thành phố thông báo lịch cắt điện.</p><p>Chi tiết.</p>",
    url: str | None = None,
) -> Article:
    article = Article(
        guid=f"urn:test:{n}",
        url=url or f"https://example.gov.vn/tin/{n}.html",
        title=title or f"Bài số {n}: Thành phố triển khai phòng chống bão",
        summary=summary,
        image_url="https://example.gov.vn/anh/{n}.jpg" if n % 3 == 0 else None,
        category_id=category.id if category else None,
        published_at=NOW - dt.timedelta(hours=hours_ago),
    )
    session.add(article)
    session.flush()
    return article
