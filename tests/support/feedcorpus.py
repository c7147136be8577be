"""Our parser against feedparser's, file by file, over feedparser's own test corpus.

Used by tests/test_feeds_corpus.py (the kept subset) and bench/feed_corpus.py (any
copy of the whole corpus).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser

from newsletter.content.fetch import FeedError
from newsletter.content.parse import ParsedFeed, parse_feed
from newsletter.sanitize import plain_text

_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
BASE = "http://127.0.0.1/corpus/"


def declared_headers(data: bytes) -> dict[str, str]:
    """The `Header: Name: value` lines of a corpus file's leading comment."""
    return {
        name.decode().strip().lower(): value.decode().strip()
        for name, value in _HEADER.findall(data[:2000])
    }


@dataclass
class Verdict:
    """`kind`: same, refused, crashed, mismatch, or not-read (feedparser finds no entry)."""

    kind: str
    detail: str = ""
    refused: bool = False  # we raised FeedError (whatever feedparser made of the file)


def theirs(data: bytes, headers: dict[str, str], base: str) -> Any:
    """feedparser's own reading of a corpus file, served with its declared headers."""
    return feedparser.parse(data, response_headers={**headers, "content-location": base})


def same_items(ours: ParsedFeed, their: Any) -> Verdict:
    """Same count, same links, same titles once both are cleaned as the store cleans them."""
    if len(ours.entries) != len(their.entries):
        return Verdict("mismatch", f"{len(ours.entries)} items, feedparser {len(their.entries)}")
    for mine, other in zip(ours.entries, their.entries, strict=True):
        if mine.url != str(other.get("link") or ""):
            return Verdict("mismatch", f"link {mine.url!r} != {other.get('link')!r}")
        # Ours is plain text already; the store applies plain_text once more.
        if plain_text(mine.title) != plain_text(plain_text(str(other.get("title") or ""))):
            return Verdict("mismatch", f"title {mine.title!r} != {other.get('title')!r}")
    return Verdict("same")


def compare(path: Path, root: Path) -> Verdict:
    """Our items for one corpus file against feedparser's."""
    data = path.read_bytes()
    headers = declared_headers(data)
    base = BASE + path.relative_to(root).as_posix()
    their = theirs(data, headers, base)
    try:
        ours = parse_feed(data, content_type=headers.get("content-type"), base_url=base)
    except FeedError as exc:
        return Verdict("refused" if their.entries else "not-read", str(exc)[:160], refused=True)
    except Exception as exc:  # counting crashes is the point
        return Verdict("crashed", f"{type(exc).__name__}: {exc}"[:160])
    if not their.entries:
        return Verdict("not-read", f"we read {len(ours.entries)} items")
    return same_items(ours, their)
