"""Run parse_feed over a feedparser test corpus and compare with feedparser itself.

Usage: .venv/bin/python -m bench.feed_corpus DIR [--list]   (from the repository root)

DIR is feedparser's tests/ folder (from `pip download --no-deps --no-binary :all:
feedparser`) or the subset kept in tests/samples/feedparser/. For each file the HTTP
headers its comment declares are passed to both parsers; a file "read by feedparser"
gives at least one entry. Reported: files we refuse (FeedError), files we crash on
(any other exception), and files feedparser reads where our items differ (count,
links, or titles after plain-text cleaning). Run by hand, not in CI.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from tests.support.feedcorpus import compare


def main(argv: list[str]) -> int:
    root = Path(argv[1])
    show = "--list" in argv
    files = sorted(p for p in root.rglob("*.xml") if p.is_file())
    counts: Counter[str] = Counter()
    refused = 0
    for path in files:
        verdict = compare(path, root)
        counts[verdict.kind] += 1
        refused += verdict.refused
        if show and verdict.kind in ("refused", "crashed", "mismatch"):
            print(f"{verdict.kind:9} {path.relative_to(root)}: {verdict.detail}")
    read = counts["same"] + counts["refused"] + counts["crashed"] + counts["mismatch"]
    print(
        f"{len(files)} files; feedparser reads items from {read}: same {counts['same']}, "
        f"refused {counts['refused']}, crashed {counts['crashed']}, "
        f"mismatched {counts['mismatch']}; feedparser reads no item from {counts['not-read']}; "
        f"we refuse {refused} files in all"
    )
    return 1 if counts["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
