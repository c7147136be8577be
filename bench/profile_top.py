"""Where the time goes: aggregate a py-spy `--format raw` profile (collapsed stacks).

Run:  .venv/bin/python bench/profile_top.py bench/out/profile-....txt [lines]
Prints inclusive time per function (file name only) and the top self time.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path


def short(frame: str) -> str:
    if " (" not in frame:
        return frame
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].split('/')[-1]})"


def main() -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(sys.argv[1]).read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for key in {short(f) for f in frames}:
            inclusive[key] += n
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    print(f"samples: {total}\n== inclusive")
    for key, n in inclusive.most_common(limit):
        print(f"{100 * n / total:5.1f}% {key}")
    print("== self")
    for key, n in own.most_common(25):
        print(f"{100 * n / total:5.1f}% {key}")


if __name__ == "__main__":
    main()
