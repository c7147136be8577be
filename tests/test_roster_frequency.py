"""`frequency` in the subscriber CSV: exported as a column, read back on import (admin and
CLI); a bad value rejects its row with the line and the value, the others go in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.models import Frequency, Subscriber, SubscriberStatus
from newsletter.subscribers.roster import export_csv, import_subscribers, read_csv
from tests.test_subscribers_roster import run_cli

HOURS = dt.timedelta(hours=6)
CSV = (
    "email,name,frequency\n"
    "an@example.vn,An,ngay-khi-co\n"
    "binh@example.vn,Bình, HANG-NGAY \n"
    "chi@example.vn,Chi,\n"
    "dung@example.vn,Dũng,monthly\n"
    "em@example.vn,Em,hang-tuan\n"
)


def frequencies(session: Session) -> dict[str, Frequency]:
    return {s.email: s.frequency for s in session.scalars(select(Subscriber))}


def test_import_reads_frequency_and_rejects_a_bad_value(session: Session) -> None:
    """Valid values (any case, trimmed) are stored, blank is weekly, `monthly` is rejected
    with its line number and value while the other rows are imported."""
    result = import_subscribers(
        session, rows=read_csv(CSV), consent_source="phiếu giấy", resend_after=HOURS
    )
    assert result.created == 4
    assert result.rejected == [
        (5, "invalid frequency 'monthly': use one of ngay-khi-co, hang-ngay, hang-tuan")
    ]
    assert frequencies(session) == {
        "an@example.vn": Frequency.IMMEDIATELY,
        "binh@example.vn": Frequency.DAILY,
        "chi@example.vn": Frequency.WEEKLY,
        "em@example.vn": Frequency.WEEKLY,
    }


def test_pending_import_stores_frequency_and_a_known_address_waits(session: Session) -> None:
    """Without a consent source a new row is pending with its frequency; for an address
    already unsubscribed the file's frequency waits for the confirmation, a blank keeps it."""
    session.add(
        Subscriber(
            email="an@example.vn", status=SubscriberStatus.UNSUBSCRIBED, frequency=Frequency.DAILY
        )
    )
    session.flush()
    rows = read_csv(CSV)
    result = import_subscribers(session, rows=rows, consent_source=None, resend_after=HOURS)
    assert (result.created, len(result.rejected)) == (4, 1)  # a confirmation each
    stored = frequencies(session)
    assert stored["an@example.vn"] is Frequency.DAILY  # unconfirmed: unchanged
    assert stored["binh@example.vn"] is Frequency.DAILY
    assert stored["chi@example.vn"] is Frequency.WEEKLY
    an = session.scalars(select(Subscriber).where(Subscriber.email == "an@example.vn")).one()
    assert an.pending_request is not None
    assert json.loads(an.pending_request)["frequency"] == "ngay-khi-co"


def test_export_then_import_round_trips_the_frequency(session: Session) -> None:
    """The export's `frequency` column, imported again, gives every row its frequency back."""
    for email, frequency in [
        ("a@example.vn", Frequency.IMMEDIATELY),
        ("b@example.vn", Frequency.DAILY),
        ("c@example.vn", Frequency.WEEKLY),
    ]:
        session.add(Subscriber(email=email, status=SubscriberStatus.ACTIVE, frequency=frequency))
    session.flush()
    before = frequencies(session)
    text = "".join(export_csv(session))
    assert text.splitlines()[0].split(",")[4] == "frequency"
    session.execute(delete(Subscriber))
    result = import_subscribers(
        session, rows=read_csv(text), consent_source="export", resend_after=HOURS
    )
    assert (result.created, result.rejected) == (3, [])
    assert frequencies(session) == before


def test_cli_import_and_stats_show_frequency(database_url: str, tmp_path: Path) -> None:
    """`subscribers import` names the bad line and value; `stats --json` counts by frequency."""
    env = {"NEWSLETTER_DATABASE_URL": database_url}
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    result = run_cli(
        "subscribers", "import", "list.csv", "--consent-source", "phiếu giấy", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "created 4" in result.stdout
    assert "line 5: invalid frequency 'monthly'" in result.stdout
    stats = run_cli("subscribers", "stats", "--json", env=env, cwd=tmp_path)
    assert json.loads(stats.stdout)["active_by_frequency"] == {
        "ngay-khi-co": 1, "hang-ngay": 1, "hang-tuan": 2,
    }  # fmt: skip
