"""`newsletter articles import FILE`: articles from a JSON, CSV or RSS/Atom file.

Every record goes through the same upsert as feeds and the API, so importing a file
twice updates instead of duplicating. A bad record is rejected with its reason and
the others are still imported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from newsletter.content.articles import (
    ArticleInput,
    ArticleRejectedError,
    CategoryIndex,
    IngestSummary,
    article_from_mapping,
    upsert_article,
)
from newsletter.content.fetch import FeedError
from newsletter.content.parse import parse_feed
from newsletter.models import utcnow

FORMATS = ("json", "csv", "feed")


class ArticleImportError(ValueError):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Record:
    """One record of a file: where it is (for the report) and the article or why not."""

    where: str
    article: ArticleInput | None = None
    problem: str | None = None


def detect_format(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    if suffix in (".xml", ".rss", ".atom"):
        return "feed"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"[": "json", b"{": "json", b"<": "feed"}.get(start, "csv")


def _from_mapping(where: str, data: object, timezone: ZoneInfo) -> Record:
    if not isinstance(data, dict):
        return Record(where, problem="not an object with article fields")
    try:
        return Record(where, article=article_from_mapping(data, timezone=timezone))
    except ArticleRejectedError as exc:
        return Record(where, problem=str(exc))


def _json_records(data: bytes, timezone: ZoneInfo) -> Iterator[Record]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArticleImportError(f"not valid UTF-8 JSON: {exc}") from None
    if isinstance(document, dict):
        document = document.get("articles", [document])
    if not isinstance(document, list):
        raise ArticleImportError('JSON must be a list of articles or {"articles": [...]}')
    for number, item in enumerate(document, start=1):
        yield _from_mapping(f"item {number}", item, timezone)


def _csv_records(data: bytes, timezone: ZoneInfo) -> Iterator[Record]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleImportError(f"CSV must be UTF-8: {exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or not {"url", "title"} <= set(reader.fieldnames):
        raise ArticleImportError("CSV needs a header row with at least 'url' and 'title' columns")
    for row in reader:
        where = f"line {reader.line_num}"
        fields: dict[str, object] = {k: v for k, v in row.items() if k and v}
        if isinstance(fields.get("categories"), str):
            fields["categories"] = [
                p.strip() for p in str(fields["categories"]).split("|") if p.strip()
            ]
        yield _from_mapping(where, fields, timezone)


def _feed_records(data: bytes, timezone: ZoneInfo) -> Iterator[Record]:
    try:
        parsed = parse_feed(data, timezone=timezone)
    except FeedError as exc:
        raise ArticleImportError(str(exc)) from None
    for number, entry in enumerate(parsed.entries, start=1):
        yield Record(f"entry {number}", article=entry)


def read_records(path: Path, *, timezone: ZoneInfo) -> list[Record]:
    """Every record of the file at `path`; ArticleImportError when the file is unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleImportError(f"cannot read {path}: {exc.strerror}") from None
    return records_from_bytes(data, kind=detect_format(path, data[:64]), timezone=timezone)


def records_from_bytes(data: bytes, *, kind: str, timezone: ZoneInfo) -> list[Record]:
    """Every record of `data` in format `kind` (one of FORMATS)."""
    if kind == "json":
        return list(_json_records(data, timezone))
    if kind == "csv":
        return list(_csv_records(data, timezone))
    return list(_feed_records(data, timezone))


def import_records(
    session: Session,
    *,
    records: list[Record],
    default_category_id: int | None = None,
    progress: Callable[[], None] | None = None,
) -> IngestSummary:
    """Upsert each record; rejected ones are listed with their reason in the summary."""
    summary = IngestSummary()
    categories = CategoryIndex.load(session)
    now = utcnow()
    for record in records:
        try:
            if record.article is None:
                raise ArticleRejectedError(record.problem or "unreadable record")
            result = upsert_article(
                session,
                article=record.article,
                categories=categories,
                default_category_id=default_category_id,
                now=now,
            )
        except ArticleRejectedError as exc:
            summary.rejected.append((record.where, str(exc)))
        else:
            summary.count(result.outcome)
        if progress is not None:
            progress()
    return summary
