"""Retention: the delivery rows of long-finished campaigns go in small batches; totals stay."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from newsletter.campaigns.control import progress
from newsletter.cli import app as cli_app
from newsletter.db import SessionFactory, create_db_engine, create_session_factory
from newsletter.delivery.retention import run_retention
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, utcnow
from newsletter.tasks.app import RETENTION, beat_schedule
from tests.support.ledger import add_subscribers

DAYS = 400


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[Engine, SessionFactory]]:
    """A database of its own: retention commits batch by batch."""
    engine = create_db_engine(database_url)
    yield engine, create_session_factory(engine)
    engine.dispose()


def add_finished(
    sessions: SessionFactory,
    subscriber_ids: list[int],
    *,
    finished_days_ago: float,
    status: CampaignStatus = CampaignStatus.SENT,
) -> int:
    """A campaign sent to `subscriber_ids`, finished that many days ago, with its totals."""
    finished = utcnow() - dt.timedelta(days=finished_days_ago)
    with sessions.begin() as session:
        begun = finished - dt.timedelta(hours=1)
        campaign = Campaign(
            kind="bulletin", subject="Thông báo cắt nước", body_text="Nội dung.", status=status,
            created_at=begun, started_at=begun,
            finished_at=None if status is CampaignStatus.SENDING else finished,
            total_count=len(subscriber_ids), sent_count=len(subscriber_ids) - 1, failed_count=1,
        )  # fmt: skip
        session.add(campaign)
        session.flush()
        rows = [
            {
                "campaign_id": campaign.id,
                "subscriber_id": sid,
                "status": DeliveryStatus.FAILED if i == 0 else DeliveryStatus.SENT,
                "sent_at": None if i == 0 else finished,
                "updated_at": finished,
            }
            for i, sid in enumerate(subscriber_ids)
        ]
        session.execute(insert(Delivery), rows)
        return campaign.id


def rows_of(sessions: SessionFactory, campaign_id: int) -> int:
    with sessions() as session:
        query = select(func.count()).where(Delivery.campaign_id == campaign_id)
        return int(session.scalar(query) or 0)


def count_deletes(engine: Engine) -> list[str]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM DELIVERIES"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return seen


def test_old_rows_go_in_batches_newer_and_sending_stay(
    store: tuple[Engine, SessionFactory],
) -> None:
    """Rows of campaigns finished before the cut-off are deleted in batches of the given
    size, each its own DELETE; a newer campaign, and an old one still sending, keep theirs;
    every campaign's totals stay and its progress reads them."""
    engine, sessions = store
    with sessions.begin() as session:
        ids = add_subscribers(session, 5)
    old = add_finished(sessions, ids, finished_days_ago=DAYS + 30)
    cancelled = add_finished(
        sessions, ids[:3], finished_days_ago=DAYS + 1, status=CampaignStatus.CANCELLED
    )
    recent = add_finished(sessions, ids, finished_days_ago=DAYS - 1)
    sending = add_finished(
        sessions, ids, finished_days_ago=DAYS + 60, status=CampaignStatus.SENDING
    )
    deletes = count_deletes(engine)
    report = run_retention(sessions, days=DAYS, batch_size=2)
    assert report.deleted == {old: 5, cancelled: 3}
    assert report.batches == 5  # 2 + 2 + 1, then 2 + 1
    assert len(deletes) == 5
    assert [rows_of(sessions, c) for c in (old, cancelled, recent, sending)] == [0, 0, 5, 5]
    with sessions() as session:
        shown = progress(session, campaign_id=old)
        assert (shown.total, shown.sent, shown.failed, shown.retryable) == (5, 4, 1, 0)
        campaign = session.get_one(Campaign, old)
        assert (campaign.total_count, campaign.sent_count, campaign.failed_count) == (5, 4, 1)
        assert progress(session, campaign_id=recent).total == 5  # from its ledger
    again = run_retention(sessions, days=DAYS, batch_size=2)
    assert (again.total, again.batches) == (0, 0)


def test_cli_prints_what_it_deleted(
    store: tuple[Engine, SessionFactory], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`newsletter retention run` deletes with NEWSLETTER_RETENTION_DAYS and says what went."""
    _, sessions = store
    with sessions.begin() as session:
        ids = add_subscribers(session, 3)
    old = add_finished(sessions, ids, finished_days_ago=31)
    kept = add_finished(sessions, ids, finished_days_ago=29)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", database_url)
    monkeypatch.setenv("NEWSLETTER_RETENTION_DAYS", "30")
    monkeypatch.setenv("NEWSLETTER_ENV", "development")
    result = CliRunner().invoke(cli_app, ["retention", "run", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert f"campaign #{old}: deleted 3 delivery row(s)" in result.output
    assert "deleted 3 delivery row(s) of 1 campaign(s)" in result.output
    assert rows_of(sessions, kept) == 3
    result = CliRunner().invoke(cli_app, ["retention", "run", "--json"])
    assert json.loads(result.output)["deleted"] == 0


def test_beat_runs_retention_nightly(settings_factory: object) -> None:
    """Beat has a named nightly entry for the retention task."""
    settings = settings_factory()  # type: ignore[operator]
    entry = beat_schedule(settings)["retention"]
    assert entry["task"] == RETENTION
    assert entry["schedule"].hour == {3}
