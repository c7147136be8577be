"""`newsletter articles import`: JSON, CSV and RSS files, the summary, the demo feed."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.content.categories import add_category
from newsletter.content.file_import import ArticleImportError, import_records, read_records
from newsletter.models import Article
from tests.support.feedserver import rss, rss_item
from tests.test_cli import newsletter

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def import_file(session: Session, path: Path) -> dict[str, object]:
    return import_records(session, records=read_records(path, timezone=HCM)).as_dict()


def test_json_import_reports_new_updated_and_rejected(session: Session, tmp_path: Path) -> None:
    """A JSON list is imported; a second run updates; bad items are listed with reasons."""
    add_category(session, slug="thong-bao", name="Thông báo")
    items = [
        {"guid": "a", "url": "https://example.gov.vn/a", "title": "Tin A", "category": "Thông báo"},
        {"url": "https://example.gov.vn/b", "title": "Tin B", "published_at": "2026-11-20"},
        {"title": "Không có đường dẫn"},
        "not an object",
    ]
    path = tmp_path / "articles.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")

    first = import_file(session, path)
    assert (first["new"], first["updated"]) == (2, 0)
    assert first["rejected"] == [
        {"item": "item 3", "reason": "url is missing"},
        {"item": "item 4", "reason": "not an object with article fields"},
    ]

    items[0]["title"] = "Tin A (sửa)"  # type: ignore[index]
    path.write_text(json.dumps({"articles": items}, ensure_ascii=False), encoding="utf-8")
    second = import_file(session, path)
    assert (second["new"], second["updated"], second["unchanged"]) == (0, 1, 1)
    assert session.scalar(select(func.count()).select_from(Article)) == 2


def test_csv_import_with_vietnamese_and_categories(session: Session, tmp_path: Path) -> None:
    """A UTF-8 CSV (with BOM, as spreadsheets save it) keeps its Vietnamese text and categories."""
    notices = add_category(session, slug="thong-bao", name="Thông báo")
    path = tmp_path / "articles.csv"
    path.write_text(
        "url,title,summary,categories,published_at\n"
        'https://example.gov.vn/c,"Lịch tiếp công dân, tháng 12",<b>Chi tiết</b>,khac|thong-bao,'
        "2026-11-25T10:00:00+07:00\n"
        "ftp://example.gov.vn/d,Sai giao thức,,,\n",
        encoding="utf-8-sig",
    )
    summary = import_file(session, path)
    assert summary["new"] == 1
    assert summary["rejected"] == [
        {"item": "line 3", "reason": "url 'ftp://example.gov.vn/d' is not an absolute http(s) URL"}
    ]
    article = session.scalars(select(Article)).one()
    assert (article.title, article.summary) == ("Lịch tiếp công dân, tháng 12", "<b>Chi tiết</b>")
    assert article.category_id == notices.id


def test_rss_file_import_and_hostile_file(session: Session, tmp_path: Path) -> None:
    """An RSS file is imported like a feed; a file declaring entities is refused whole."""
    good = tmp_path / "feed.xml"
    good.write_text(rss(rss_item(1), rss_item(2)), encoding="utf-8")
    assert import_file(session, good)["new"] == 2
    hostile = tmp_path / "bad.xml"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>')
    with pytest.raises(ArticleImportError, match="declares XML entities"):
        read_records(hostile, timezone=HCM)


def test_cli_demo_import_is_idempotent(database_url: str, tmp_path: Path) -> None:
    """`articles import --demo` creates the demo categories and a dozen articles, once; a
    re-import re-dates them (up to now) instead of adding any."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    first = newsletter("articles", "import", "--demo", "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["new"] == 12
    again = newsletter("articles", "import", "--demo", "--json", env=env, cwd=tmp_path)
    summary = json.loads(again.stdout)
    assert summary["new"] == 0
    assert summary["rejected"] == []
    assert summary["updated"] + summary["unchanged"] == 12
    listed = newsletter("categories", "list", "--json", env=env, cwd=tmp_path)
    assert [c["name"] for c in json.loads(listed.stdout)] == [
        "Tin tức",
        "Thông báo",
        "Kinh tế – Xã hội",
        "Văn hóa – Xã hội",
    ]


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_cli_import_file_prints_summary(database_url: str, tmp_path: Path) -> None:
    """`articles import FILE` prints counts and each rejection; a bad file fails in one line."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    path = tmp_path / "a.json"
    path.write_text('[{"url": "https://example.gov.vn/x", "title": "Tin"}, {"url": "x"}]')
    result = newsletter("articles", "import", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "new: 1, updated: 0, unchanged: 0, rejected: 1" in result.stdout
    assert "rejected item 2: title is missing" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    failed = newsletter("articles", "import", str(broken), env=env, cwd=tmp_path)
    assert failed.returncode == 1
    assert "not valid UTF-8 JSON" in failed.stderr
    assert "Traceback" not in failed.stderr
