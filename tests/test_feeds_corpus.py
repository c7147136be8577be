"""feedparser's own test corpus (a kept subset): no crash, feedparser's items, clean HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.content.fetch import FeedError
from newsletter.content.parse import parse_feed
from newsletter.sanitize import plain_text, sanitize_html
from tests.support.feedcorpus import BASE, compare, declared_headers, same_items, theirs

ROOT = Path(__file__).parent / "samples" / "feedparser"
FILES = sorted(ROOT.rglob("*.xml"))
_EXPECTED_ENCODING = re.compile(rb"encoding == '([^']+)'")

# Files where we differ from feedparser on purpose, with the reason.
REFUSED = {
    # Cut off inside CDATA: the root element never closes (a truncated download).
    "illformed/rss_incomplete_cdata.xml": "ends before its root element closes",
    # Declares an entity in its DOCTYPE: every entity declaration is refused.
    "wellformed/rss/entity_in_doctype.xml": "declares XML entities",
}
# Undeclared legacy encodings: feedparser (without chardet installed) reads them as
# Windows-1252 mojibake; we detect them. Compared with feedparser told the right one.
DETECTED = sorted(p for p in FILES if p.parent.name == "chardet")


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_subset_is_the_documented_size() -> None:
    """The kept subset holds the 768 files its README lists, with feedparser's licence."""
    assert len(FILES) == 768
    assert "Redistributions of source code must retain" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("path", [p for p in FILES if p not in DETECTED], ids=relative)
def test_corpus_file_reads_like_feedparser(path: Path) -> None:
    """No file crashes; every file feedparser reads gives the same items, bar the listed ones."""
    verdict = compare(path, ROOT)
    if relative(path) in REFUSED:
        assert verdict.kind == "refused"
        assert REFUSED[relative(path)] in verdict.detail
    else:
        assert verdict.kind in ("same", "not-read"), verdict.detail


@pytest.mark.parametrize("path", DETECTED, ids=relative)
def test_undeclared_legacy_encoding_is_detected(path: Path) -> None:
    """Unlabelled EUC-KR, GB2312, KOI8-R, Shift_JIS read as feedparser reads them labelled."""
    data = path.read_bytes()
    expected = _EXPECTED_ENCODING.search(data)
    assert expected is not None
    labelled = data.decode(expected.group(1).decode()).encode("utf-8")
    their = theirs(labelled, {"content-type": "application/xml; charset=utf-8"}, BASE)
    ours = parse_feed(data, content_type=declared_headers(data).get("content-type"), base_url=BASE)
    assert same_items(ours, their).kind == "same"
    assert (ours.title or "") == plain_text(str(their.feed.get("title", "")))
    assert ours.entries or ours.title


SANITIZE = sorted(p for p in FILES if p.parent.name == "sanitize")
_ACTIVE = re.compile(
    r"<script|<iframe|<object|<embed|<applet|<meta|<link|\son\w+\s*=|javascript:", re.I
)


@pytest.mark.parametrize("path", SANITIZE, ids=relative)
def test_sanitize_case_comes_out_clean(path: Path) -> None:
    """What the store keeps of each hostile case has no script, event handler or javascript: URL."""
    data = path.read_bytes()
    try:
        parsed = parse_feed(data, content_type=declared_headers(data).get("content-type"))
    except FeedError:
        return  # refused: nothing of it is stored
    kept = [plain_text(parsed.title or "")]
    for entry in parsed.entries:
        kept += [plain_text(entry.title), sanitize_html(entry.summary)]
    for value in kept:
        assert not _ACTIVE.search(value), value
