"""GNU Mailman's flufl.bounce corpus (tests/corpora/flufl_bounce/): real bounces from the field,
read with the answers flufl.bounce's own tests expect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.bounces.parse import BounceKind, parse_report
from newsletter.config import Settings
from newsletter.subscribers.addresses import mailbox_key

CORPUS = Path(__file__).parent / "corpora" / "flufl_bounce"
EXPECTED: dict[str, dict[str, object]] = json.loads((CORPUS / "expected.json").read_text())
MESSAGES = sorted((CORPUS / "data").glob("*.txt"))


@pytest.fixture
def settings(settings_factory: type[Settings]) -> Settings:
    return settings_factory()


def test_corpus_addresses_are_right(settings: Settings) -> None:
    """At least 110 of the 111 messages with an expected answer give exactly its addresses."""
    misses = []
    for name, expected in sorted(EXPECTED.items()):
        report = parse_report((CORPUS / "data" / name).read_bytes(), settings)
        got = sorted({f.address for f in report.failures if f.address})
        want = sorted({str(a).lower() for a in expected["addresses"]})  # type: ignore[attr-defined]
        if got != want:
            misses.append(f"{name}: expected {want}, got {got}")
    print("\n".join(misses))
    assert len(EXPECTED) == 111
    assert len(EXPECTED) - len(misses) >= 110, misses


@pytest.mark.parametrize("path", MESSAGES, ids=[p.name for p in MESSAGES])
def test_corpus_message_reads_safely(settings: Settings, path: Path) -> None:
    """Every message parses without error, names only real mailboxes, and a temporary
    failure (a warning, a delay) is never typed hard."""
    report = parse_report(path.read_bytes(), settings)
    for failure in report.failures:
        assert failure.address == "" or mailbox_key(failure.address) == failure.address
        assert "@" in failure.address
    expected = EXPECTED.get(path.name)
    if expected is not None and expected["temporary"]:
        assert BounceKind.HARD not in {f.kind for f in report.failures}
