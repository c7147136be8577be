"""Feed bytes to article inputs: decode, repair, refuse hostile XML, then let feedparser read it.

feedparser only ever sees bytes we hold (never a URL), already re-encoded as UTF-8.
Before that, the text is repaired character by character (`xml_repair`) and parsed
once by defusedxml, which refuses any entity declaration (billion laughs, external
entities) and any external DTD. A document still not well-formed after the repairs
(unclosed or crossed tags) is read by feedparser's lenient parser, as feedparser
itself would, but only once no DOCTYPE or entity declaration is left in it; a
document cut off before its root element closes is refused.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml  # type: ignore[import-untyped]
import defusedxml.sax  # type: ignore[import-untyped]
import feedparser

from newsletter.content.articles import ArticleInput
from newsletter.content.dates import parse_date
from newsletter.content.feed_encoding import decode_feed
from newsletter.content.fetch import FeedError
from newsletter.content.xml_repair import (
    drop_any_doctype,
    drop_external_doctype,
    is_cut_off,
    repair_characters,
)
from newsletter.sanitize import plain_text, text_to_html

# The XML declaration, after any whitespace or comments (some CMSs print a comment first).
_DECLARATION_TEXT = re.compile(r"^((?:\s|<!--.*?-->)*)<\?xml\s[^>]*\?>", re.DOTALL)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)
# The lenient parser is several times slower than expat (about 10 s per MB on a shared
# 2-core machine); real feeds are far smaller, and a poll worker must not stall on one.
LENIENT_MAX_BYTES = 1024 * 1024
# The zone of a date written without one when the caller names none: the portal's city.
DEFAULT_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class ParsedFeed:
    title: str | None
    entries: list[ArticleInput] = field(default_factory=list)
    encoding: str = "utf-8"
    # Read by the lenient parser: the document was not well-formed even after repairs.
    lenient: bool = False


class _NotWellFormedError(Exception):
    def __init__(self, exc: xml.sax.SAXParseException) -> None:
        super().__init__(
            f"feed is not well-formed XML (line {exc.getLineNumber()}, column "
            f"{exc.getColumnNumber()}): {exc.getMessage()}"
        )


def refuse_hostile_xml(document: bytes) -> None:
    """Parse once with defusedxml (no tree kept): entity declarations and external DTDs fail.

    Raises _NotWellFormedError for a document that is merely malformed.
    """
    try:
        defusedxml.sax.parseString(
            document,
            xml.sax.ContentHandler(),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        )
    except defusedxml.EntitiesForbidden:
        raise FeedError(
            "feed declares XML entities (entity expansion or external entity); refused"
        ) from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden):
        raise FeedError("feed references an external DTD or entity; refused") from None
    except xml.sax.SAXParseException as exc:
        raise _NotWellFormedError(exc) from None


def _as_utf8(text: str) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + text.encode("utf-8")


def prepared_document(text: str) -> tuple[bytes, bool]:
    """(UTF-8 document feedparser may read, whether it needs the lenient parser).

    FeedError when the document is hostile or cut off.
    """
    body = _DECLARATION_TEXT.sub(r"\1", text.lstrip("\ufeff"), count=1)
    body = drop_external_doctype(repair_characters(body))
    document = _as_utf8(body)
    try:
        refuse_hostile_xml(document)
    except _NotWellFormedError as exc:
        if is_cut_off(body):
            raise FeedError(f"{exc}; the document ends before its root element closes") from None
        if len(document) > LENIENT_MAX_BYTES:
            raise FeedError(
                f"{exc}; at {len(document)} bytes it is too large to read leniently "
                f"(limit {LENIENT_MAX_BYTES})"
            ) from None
        # defusedxml stopped at the error and may not have seen everything: nothing that
        # declares an entity reaches the lenient parser, whatever its place in the text.
        if _ENTITY_DECLARATION.search(body):
            raise FeedError(
                "feed declares XML entities (entity expansion or external entity); refused"
            ) from None
        return _as_utf8(drop_any_doctype(body)), True
    return document, False


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else None


def _summary(entry: Mapping[str, Any]) -> str:
    detail = _get(entry, "summary_detail")
    if not detail:
        contents = _get(entry, "content") or []
        detail = contents[0] if contents else None
    if not detail:
        return ""
    value = str(_get(detail, "value") or "")
    # feedparser sanitises only (x)html; text/plain is handed back raw.
    return text_to_html(value) if _get(detail, "type") == "text/plain" else value


def _image(entry: Mapping[str, Any]) -> str | None:
    for media in [*(_get(entry, "media_content") or []), *(_get(entry, "media_thumbnail") or [])]:
        url = _get(media, "url")
        kind = str(_get(media, "type") or _get(media, "medium") or "image")
        if url and kind.startswith("image"):
            return str(url)
    for link in _get(entry, "links") or []:
        if _get(link, "rel") == "enclosure" and str(_get(link, "type") or "").startswith("image/"):
            return str(_get(link, "href"))
    return None


def _published(entry: Mapping[str, Any], timezone: ZoneInfo) -> dt.datetime | None:
    for key in ("published", "updated"):
        raw = _get(entry, key)
        moment = parse_date(str(raw), timezone=timezone) if raw else None
        if moment is not None:
            return moment
    # Forms only feedparser knows (W3DTF variants, Korean, Greek, ...): its reading, in UTC.
    parsed = _get(entry, "published_parsed") or _get(entry, "updated_parsed")
    if not parsed:
        return None
    year, month, day, hour, minute, second = (int(part) for part in parsed[:6])
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def _entry_input(entry: Mapping[str, Any], timezone: ZoneInfo) -> ArticleInput:
    labels: list[str] = []
    for tag in _get(entry, "tags") or []:
        labels.extend(str(v) for v in (_get(tag, "term"), _get(tag, "label")) if v)
    return ArticleInput(
        guid=str(_get(entry, "id") or "") or None,
        url=str(_get(entry, "link") or ""),
        # Plain text whatever the feed's type says: markup in a title, as tags or escaped
        # as text, is stripped (script with its content), never shown as "<script>".
        title=plain_text(str(_get(entry, "title") or "")),
        summary=_summary(entry),
        image_url=_image(entry),
        author=str(_get(entry, "author") or "") or None,
        categories=tuple(labels),
        published_at=_published(entry, timezone),
    )


def parse_feed(
    body: bytes,
    *,
    content_type: str | None = None,
    base_url: str | None = None,
    timezone: ZoneInfo = DEFAULT_TIMEZONE,
) -> ParsedFeed:
    """Articles of an RSS 0.9x/1.0/2.0 or Atom document; FeedError when it cannot be read.

    Dates without a zone are read in `timezone` (NEWSLETTER_TIMEZONE).
    """
    text, encoding = decode_feed(body, content_type)
    document, lenient = prepared_document(text)
    del text
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    result = feedparser.parse(
        io.BytesIO(document),
        response_headers=headers,
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    entries = result.get("entries") or []
    if not result.get("version") and not entries:
        raise FeedError(
            "document is not an RSS or Atom feed (nor well-formed XML)"
            if lenient
            else "document is well-formed XML but not an RSS or Atom feed"
        )
    return ParsedFeed(
        title=plain_text(str(_get(result.get("feed"), "title") or "")) or None,
        entries=[_entry_input(entry, timezone) for entry in entries],
        encoding=encoding,
        lenient=lenient,
    )
