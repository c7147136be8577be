"""Every kind of mail scored by SpamAssassin's local rules (`spamassassin -L -t`): 0 or less.

Network tests (DNS blocklists, Razor, DKIM key lookups) cannot run here; the local rules
are what judges wording, HTML, headers and MIME structure. `make spamcheck` installs
Debian's spamassassin when missing and runs this module alone; `make test` installs it too.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.allmail import (
    SentMail,
    keys_fixture,  # noqa: F401 - a fixture, found by name
    mails_fixture,  # noqa: F401 - a fixture, found by name
)
from tests.support.requirements import require

SPAMASSASSIN = Path("/usr/bin/spamassassin")
STATUS = re.compile(r"^X-Spam-Status: \w+, score=(-?[\d.]+) .*?tests=(.*?)(?:autolearn|version)",
                    re.MULTILINE | re.DOTALL)  # fmt: skip


def score(mail: SentMail) -> tuple[float, str]:
    """SpamAssassin's score and rule names for `mail` as a receiving server gets it."""
    received = f"Return-Path: <{mail.envelope_from}>\r\n".encode("ascii") + mail.data
    result = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t"],
        input=received, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    found = STATUS.search(result.stdout.decode("utf-8", errors="replace"))
    assert found is not None, result.stdout[:3000]
    return float(found.group(1)), re.sub(r"\s+", "", found.group(2))


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_every_kind_scores_zero_or_less(db_backend: str, mails: dict[str, SentMail]) -> None:
    """SpamAssassin's local rules give no kind of mail a positive score."""
    require(
        SPAMASSASSIN.exists(),
        "SpamAssassin is missing: run `make spamcheck` (or `apt-get install spamassassin`)",
    )
    scores = {kind: score(mail) for kind, mail in mails.items()}
    print("\n" + "\n".join(f"{k}: {s:+.1f} {rules}" for k, (s, rules) in scores.items()))
    assert all(s <= 0 for s, _ in scores.values()), scores
