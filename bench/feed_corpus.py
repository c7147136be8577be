"""Run parse_feed over a feedparser test corpus and compare with feedparser itself.

Usage: .venv/bin/python bench/feed_corpus.py DIR [--list]

DIR is feedparser's tests/ folder (from `pip download --no-deps --no-binary :all:
feedparser`) or the subset kept in tests/samples/feedparser/. For each file: the
HTTP headers its comment declares are passed to both parsers; a file "read by
feedparser" has at least one entry. Reported: files we refuse (FeedError), files we
crash on (any other exception), and files feedparser reads where our items differ
(count, links, or titles after plain-text cleaning). Run by hand, not in CI.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser

from newsletter.content.fetch import FeedError
from newsletter.content.parse import parse_feed
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
    kind: str  # "same", "refused", "crashed", "mismatch", "not-read" (feedparser reads nothing)
    detail: str = ""


def compare(path: Path, root: Path) -> Verdict:
    """Our items for one corpus file against feedparser's."""
    data = path.read_bytes()
    headers = declared_headers(data)
    base = BASE + path.relative_to(root).as_posix()
    theirs: Any = feedparser.parse(data, response_headers={**headers, "content-location": base})
    try:
        ours = parse_feed(data, content_type=headers.get("content-type"), base_url=base)
    except FeedError as exc:
        kind = "refused" if theirs.entries else "not-read"
        return Verdict(kind, str(exc)[:120])
    except Exception as exc:
        return Verdict("crashed", f"{type(exc).__name__}: {exc}"[:160])
    if not theirs.entries:
        return Verdict("not-read", f"we read {len(ours.entries)} items")
    if len(ours.entries) != len(theirs.entries):
        return Verdict("mismatch", f"{len(ours.entries)} items, feedparser {len(theirs.entries)}")
    for mine, their in zip(ours.entries, theirs.entries, strict=True):
        if mine.url != str(their.get("link") or ""):
            return Verdict("mismatch", f"link {mine.url!r} != {their.get('link')!r}")
        # Ours is already plain text; what is stored is plain_text of it (articles._clean).
        if plain_text(mine.title) != plain_text(plain_text(str(their.get("title") or ""))):
            return Verdict("mismatch", f"title {mine.title!r} != {their.get('title')!r}")
    return Verdict("same")


def main(argv: list[str]) -> int:
    root = Path(argv[1])
    show = "--list" in argv
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    counts: Counter[str] = Counter()
    for path in files:
        verdict = compare(path, root)
        counts[verdict.kind] += 1
        if show and verdict.kind in ("refused", "crashed", "mismatch"):
            print(f"{verdict.kind:9} {path.relative_to(root)}: {verdict.detail}")
    read = counts["same"] + counts["refused"] + counts["crashed"] + counts["mismatch"]
    print(
        f"{len(files)} files; feedparser reads items from {read}: same {counts['same']}, "
        f"refused {counts['refused']}, crashed {counts['crashed']}, "
        f"mismatched {counts['mismatch']}; feedparser reads nothing from {counts['not-read']}"
    )
    return 1 if counts["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
