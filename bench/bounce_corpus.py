"""Bounce reading measured on the corpora we have: the flufl.bounce corpus and our samples.

    .venv/bin/python bench/bounce_corpus.py

Prints, per corpus and in all: recognised % (a failure, a complaint, an auto-reply or a
"not a failure" verdict from a report that was understood), right-address % (exactly the
expected addresses), the share of non-permanent failures typed hard, and any returned
"address" that is not a mailbox (must be 0).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bounce_samples import EXPECTED, sample  # noqa: E402

from newsletter.bounces.classify import BounceKind  # noqa: E402
from newsletter.bounces.parse import parse_report  # noqa: E402
from newsletter.config import Settings  # noqa: E402
from newsletter.subscribers.addresses import mailbox_key  # noqa: E402

FLUFL = ROOT / "tests" / "corpora" / "flufl_bounce"


@dataclass
class Tally:
    messages: int = 0
    recognised: int = 0
    right: int = 0
    non_permanent: int = 0
    non_permanent_hard: int = 0
    non_addresses: int = 0

    def line(self, name: str) -> str:
        hard = self.non_permanent_hard / self.non_permanent if self.non_permanent else 0.0
        n = self.messages
        return (
            f"{name:8} {n:4} messages  recognised {self.recognised / n:6.1%}"
            f"  right address {self.right / n:6.1%}"
            f"  non-permanent typed hard {self.non_permanent_hard}/{self.non_permanent}"
            f" ({hard:.1%})  non-addresses {self.non_addresses}"
        )


def count(tally: Tally, report: object, want: set[str], permanent: bool | None) -> None:
    from newsletter.bounces.report import BounceReport

    assert isinstance(report, BounceReport)
    tally.messages += 1
    got = {f.address for f in report.failures if f.address}
    tally.recognised += report.source is not None
    tally.right += got == want
    tally.non_addresses += sum(mailbox_key(a) != a for a in got)
    if permanent is False:
        tally.non_permanent += 1
        tally.non_permanent_hard += BounceKind.HARD in {f.kind for f in report.failures}


def main() -> None:
    settings = Settings(
        secret_key="bench-secret-key-that-is-long-enough!", bounce_domain="b.example"
    )
    flufl, ours = Tally(), Tally()
    expected = json.loads((FLUFL / "expected.json").read_text())
    for name, answer in sorted(expected.items()):
        report = parse_report((FLUFL / "data" / name).read_bytes(), settings)
        count(flufl, report, {a.lower() for a in answer["addresses"]}, not answer["temporary"])
    for name, answer in sorted(EXPECTED.items()):
        report = parse_report(sample(name, settings), settings)
        failure = answer.kind in (BounceKind.HARD, BounceKind.SOFT, BounceKind.POLICY)
        count(
            ours, report, set(answer.addresses), answer.kind is BounceKind.HARD if failure else None
        )
    total = Tally(*(getattr(flufl, f) + getattr(ours, f) for f in Tally.__dataclass_fields__))
    for name, tally in (("flufl", flufl), ("samples", ours), ("all", total)):
        print(tally.line(name))


if __name__ == "__main__":
    main()
