"""Feed bytes to article inputs: decode, refuse hostile XML, then let feedparser read it.

feedparser only ever sees bytes we hold (never a URL), already re-encoded as UTF-8
and already checked by defusedxml, so entity expansion and external entities are
refused before any parser could act on them.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.entities import name2codepoint
from typing import Any

import defusedxml  # type: ignore[import-untyped]
import defusedxml.sax  # type: ignore[import-untyped]
import feedparser

from newsletter.content.articles import ArticleInput
from newsletter.content.fetch import FeedError
from newsletter.sanitize import text_to_html

_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_DECLARATION_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
# Legacy Vietnamese sites still publish Windows-1258 under a wrong label; it is the last
# guess before giving up, after the byte-order mark, the XML declaration, HTTP and UTF-8.
LEGACY_FALLBACK = "windows-1258"


@dataclass
class ParsedFeed:
    title: str | None
    entries: list[ArticleInput] = field(default_factory=list)
    encoding: str = "utf-8"


def _candidate_encodings(body: bytes, content_type: str | None) -> list[str]:
    candidates: list[str] = []
    if body.startswith(codecs.BOM_UTF8):
        candidates.append("utf-8-sig")
    elif body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        candidates.append("utf-32")
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.append("utf-16")
    elif body.startswith(b"<\x00?\x00"):
        candidates.append("utf-16-le")
    elif body.startswith(b"\x00<\x00?"):
        candidates.append("utf-16-be")
    declared = _DECLARATION.match(body)
    if declared:
        candidates.append(declared.group(1).decode("ascii"))
    charset = _CHARSET.search(content_type or "")
    if charset:
        candidates.append(charset.group(1))
    candidates += ["utf-8", LEGACY_FALLBACK]
    return candidates


def decode_feed(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, encoding): the first candidate encoding that decodes `body` without error."""
    tried: list[str] = []
    for name in _candidate_encodings(body, content_type):
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        if codec in tried:
            continue
        tried.append(codec)
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    raise FeedError(
        f"cannot decode the feed as any of {', '.join(tried)}; "
        "the publisher must declare its real encoding"
    )


_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


def _numeric_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    codepoint = name2codepoint.get(name)
    if name in _XML_ENTITIES or codepoint is None:
        return match.group(0)
    return f"&#{codepoint};"


def html_entities_to_numeric(text: str) -> str:
    """`&nbsp;`-style HTML entities as character references, which XML knows without a DTD.

    Many CMSs put them in feeds; without this, such a feed is "malformed" and refused.
    """
    return _NAMED_ENTITY.sub(_numeric_entity, text)


def refuse_hostile_xml(document: bytes) -> None:
    """Parse once with defusedxml (no tree kept): entity declarations and malformed XML fail."""
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
        raise FeedError(
            f"feed is not well-formed XML (line {exc.getLineNumber()}, column "
            f"{exc.getColumnNumber()}): {exc.getMessage()}"
        ) from None


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


def _published(entry: Mapping[str, Any]) -> dt.datetime | None:
    parsed = _get(entry, "published_parsed") or _get(entry, "updated_parsed")
    if not parsed:
        return None
    year, month, day, hour, minute, second = (int(part) for part in parsed[:6])
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


def _entry_input(entry: Mapping[str, Any]) -> ArticleInput:
    title = str(_get(entry, "title") or "")
    if _get(_get(entry, "title_detail"), "type") == "text/plain":
        title = text_to_html(title)
    labels: list[str] = []
    for tag in _get(entry, "tags") or []:
        labels.extend(str(v) for v in (_get(tag, "term"), _get(tag, "label")) if v)
    return ArticleInput(
        guid=str(_get(entry, "id") or "") or None,
        url=str(_get(entry, "link") or ""),
        title=title,
        summary=_summary(entry),
        image_url=_image(entry),
        author=str(_get(entry, "author") or "") or None,
        categories=tuple(labels),
        published_at=_published(entry),
    )


def parse_feed(
    body: bytes, *, content_type: str | None = None, base_url: str | None = None
) -> ParsedFeed:
    """Articles of an RSS 0.9x/1.0/2.0 or Atom document; FeedError when it cannot be read."""
    text, encoding = decode_feed(body, content_type)
    # Re-encoded as UTF-8 with a matching declaration, so no later parser re-guesses.
    body_text = _DECLARATION_TEXT.sub("", text.lstrip("\ufeff"), count=1)
    document = b'<?xml version="1.0" encoding="utf-8"?>' + html_entities_to_numeric(
        body_text
    ).encode("utf-8")
    del text, body_text
    refuse_hostile_xml(document)
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    result = feedparser.parse(
        io.BytesIO(document),
        response_headers=headers,
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    if not result.get("version"):
        raise FeedError("document is well-formed XML but not an RSS or Atom feed")
    return ParsedFeed(
        title=_get(result.get("feed"), "title") or None,
        entries=[_entry_input(entry) for entry in result.get("entries") or []],
        encoding=encoding,
    )
