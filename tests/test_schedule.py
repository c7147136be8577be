"""Sending at a set time (campaigns/schedule.py): validation, the due check, exactly once
with several beats, and the approval rule at the bulletin's time."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.campaigns.approval import Actor, approve
from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.schedule import (
    ScheduleError,
    check_send_at,
    due_bulletins,
    parse_send_at,
    schedule,
    scheduled_bulletins,
    start_if_due,
    unschedule,
)
from newsletter.config import Settings
from newsletter.delivery.ledger import Work
from newsletter.models import AuditEvent, Campaign, CampaignStatus, Delivery
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import START_DUE_BULLETINS, URGENT_QUEUE, beat_schedule
from tests.support.ledger import add_subscribers

TZ = "Asia/Ho_Chi_Minh"
SOON = dt.timedelta(minutes=10)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def draft(session: Session, *, author: str = "tac-gia") -> Campaign:
    campaign = create_bulletin(
        session,
        subject="Lịch cắt điện",
        body_markdown="Cắt điện từ 8:00.",
        category_slugs=[],
        created_by=author,
    )
    session.flush()
    return campaign


def make_due(session: Session, campaign_id: int) -> dt.datetime:
    """Move the set time a minute into the past, as the clock would."""
    moment = now() - dt.timedelta(minutes=1)
    session.execute(update(Campaign).where(Campaign.id == campaign_id).values(send_at=moment))
    session.flush()
    return now()


def test_a_time_in_the_past_or_beyond_30_days_is_refused() -> None:
    """The past and more than 30 days ahead are refused with the local time in the message."""
    current = now()
    with pytest.raises(ScheduleError, match="in the past"):
        check_send_at(current - dt.timedelta(minutes=1), now=current, timezone=TZ)
    with pytest.raises(ScheduleError, match="more than 30 days ahead"):
        check_send_at(current + dt.timedelta(days=30, minutes=1), now=current, timezone=TZ)
    for edge in ("0001-01-01T00:00:00+07:00", "9999-12-31T23:59:00-05:00"):
        with pytest.raises(ScheduleError, match="no usable time"):
            check_send_at(dt.datetime.fromisoformat(edge), now=current, timezone=TZ)
    ok = check_send_at(current + dt.timedelta(days=29), now=current, timezone=TZ)
    assert ok.tzinfo is not None
    assert ok > current


def test_a_time_without_offset_is_local_and_garbage_is_refused() -> None:
    """The admin's datetime-local value is read in NEWSLETTER_TIMEZONE; nonsense is refused."""
    tomorrow = (now() + dt.timedelta(days=1)).astimezone(ZoneInfo(TZ))
    text = tomorrow.strftime("%Y-%m-%dT%H:%M")
    parsed = parse_send_at(text, timezone=TZ)
    assert parsed.utcoffset() == dt.timedelta(hours=7)
    assert parsed.strftime("%Y-%m-%dT%H:%M") == text
    for bad in ("", "ngày mai", "2026-13-45T99:00"):
        with pytest.raises(ScheduleError, match="not a date and time"):
            parse_send_at(bad, timezone=TZ)


def test_due_bulletins_start_once_and_only_when_due(session: Session) -> None:
    """Not due: nothing starts. Due: it starts (audited as by the schedule); asking again
    starts nothing."""
    add_subscribers(session, 2, prefix="hengio")
    campaign = draft(session)
    schedule(session, campaign_id=campaign.id, send_at=now() + SOON, actor="tac-gia", timezone=TZ)
    assert campaign.id not in due_bulletins(session, now=now())
    assert start_if_due(session, campaign_id=campaign.id, threshold=10, batch_size=50) is None
    assert campaign.id in [c.id for c in scheduled_bulletins(session)]
    moment = make_due(session, campaign.id)
    assert campaign.id in due_bulletins(session, now=moment)
    work = start_if_due(session, campaign_id=campaign.id, threshold=10, batch_size=50, now=moment)
    assert work is not None
    assert work.started
    session.refresh(campaign)
    assert campaign.status is not CampaignStatus.DRAFT
    assert start_if_due(session, campaign_id=campaign.id, threshold=10, batch_size=50) is None
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.target == f"campaign {campaign.id}")
    ).all()
    assert actions == ["bulletin.scheduled", "bulletin.sent"]


def test_an_unapproved_big_bulletin_does_not_start_and_says_why(session: Session) -> None:
    """Over the threshold without approval at its time: not started, a note saying why
    (shown on the dashboard), audited, and not tried again every minute."""
    add_subscribers(session, 3, prefix="lon")
    campaign = draft(session)
    schedule(session, campaign_id=campaign.id, send_at=now() + SOON, actor="tac-gia", timezone=TZ)
    moment = make_due(session, campaign.id)
    assert start_if_due(session, campaign_id=campaign.id, threshold=1, batch_size=50) is None
    assert campaign.status is CampaignStatus.DRAFT
    assert campaign.schedule_note is not None
    assert "over the approval threshold of 1" in campaign.schedule_note
    assert campaign.id not in due_bulletins(session, now=moment)
    held = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "bulletin.schedule_held")
    ).one()
    assert held.target == f"campaign {campaign.id}"
    # Rescheduled after a second official's approval, it starts at its new time.
    approve(session, campaign_id=campaign.id, actor=Actor(name="nguoi-duyet", can_send=True))
    schedule(session, campaign_id=campaign.id, send_at=now() + SOON, actor="tac-gia", timezone=TZ)
    moment = make_due(session, campaign.id)
    work = start_if_due(session, campaign_id=campaign.id, threshold=1, batch_size=50, now=moment)
    assert work is not None
    assert work.started


def test_unscheduled_or_cancelled_bulletins_do_not_start(session: Session) -> None:
    """Taken off the schedule (or cancelled) before its time, a bulletin never starts."""
    campaign = draft(session)
    schedule(session, campaign_id=campaign.id, send_at=now() + SOON, actor="tac-gia", timezone=TZ)
    unschedule(session, campaign_id=campaign.id, actor="tac-gia")
    assert campaign.send_at is None
    with pytest.raises(ScheduleError, match="not scheduled"):
        unschedule(session, campaign_id=campaign.id, actor="tac-gia")
    schedule(session, campaign_id=campaign.id, send_at=now() + SOON, actor="tac-gia", timezone=TZ)
    make_due(session, campaign.id)
    campaign.status = CampaignStatus.CANCELLED
    session.flush()
    assert campaign.id not in due_bulletins(session, now=now())
    assert start_if_due(session, campaign_id=campaign.id, threshold=10, batch_size=50) is None


def test_beat_asks_every_minute_on_the_urgent_queue(
    settings_factory: Callable[..., Settings],
) -> None:
    """The beat entry that starts due bulletins runs every minute, on the urgent queue."""
    entry = beat_schedule(settings_factory())["start-due-bulletins"]
    assert entry["task"] == START_DUE_BULLETINS
    assert entry["schedule"] == dt.timedelta(minutes=1)
    assert entry["options"]["queue"] == URGENT_QUEUE


@pytest.fixture
def runtime(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[Runtime]:
    rt = build_runtime(settings_factory(database_url=database_url))
    yield rt
    rt.close()


def test_two_beats_at_once_start_a_bulletin_exactly_once(runtime: Runtime) -> None:
    """Four threads (two beats, two workers) ask for the same due bulletin at the same
    moment, each in its own transaction: one starts it, the ledger holds each resident once."""
    with runtime.sessions.begin() as session:
        add_subscribers(session, 40, prefix="cungluc")
        campaign_id = draft(session).id
        schedule(
            session, campaign_id=campaign_id, send_at=now() + SOON, actor="tac-gia", timezone=TZ
        )
        make_due(session, campaign_id)
    barrier = threading.Barrier(4)
    results: list[Work | None] = []
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            barrier.wait()
            with runtime.sessions.begin() as session:
                results.append(
                    start_if_due(session, campaign_id=campaign_id, threshold=100, batch_size=10)
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(1 for work in results if work is not None and work.started) == 1
    with runtime.sessions() as session:
        rows = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)
        )
        starts = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "bulletin.sent",
                AuditEvent.target == f"campaign {campaign_id}",
            )
        )
    assert rows == 40
    assert starts == 1
