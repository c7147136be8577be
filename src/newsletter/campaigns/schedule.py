"""Sending a bulletin at a set time: schedule, reschedule, unschedule, and start when due.

Beat asks every minute (tasks/app.py "start-due-bulletins"), so a bulletin starts within
a minute of its time. Starting is exactly once however many beats or workers ask: the
claim is a conditional UPDATE of the draft (a row lock on PostgreSQL, the write lock on
SQLite), and `start_campaign` only starts a draft. A due bulletin the approval rules hold
back (campaigns/approval.py) does not start: `schedule_note` says why, the dashboard
shows it, and it waits for an official to send it or schedule it again.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.campaigns.approval import ApprovalError, draft_bulletin, send_blocker
from newsletter.campaigns.audience import count_eligible, start_campaign
from newsletter.delivery.ledger import Work
from newsletter.models import Campaign, CampaignKind, CampaignStatus, utcnow

MAX_AHEAD = dt.timedelta(days=30)
SCHEDULER = "schedule"  # the audit trail's actor for a start at the set time


class ScheduleError(ValueError):
    """The time cannot be used; the message says why and what to give instead."""


def parse_send_at(text: str, *, timezone: str) -> dt.datetime:
    """An ISO 8601 date-time; without an offset it is in NEWSLETTER_TIMEZONE (the admin's
    `datetime-local` field, the CLI's `--send-at 2026-12-05T08:00`)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not a date and time: use YYYY-MM-DDTHH:MM "
            f"(in {timezone}) or ISO 8601 with an offset, e.g. 2026-12-05T08:00:00+07:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


def check_send_at(send_at: dt.datetime, *, now: dt.datetime, timezone: str) -> dt.datetime:
    """`send_at` in UTC, if it is in the future and at most MAX_AHEAD away."""
    zone = ZoneInfo(timezone)
    if send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=zone)
    try:
        when = send_at.astimezone(dt.UTC)
        local = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except OverflowError:  # year 1 or 9999 once moved to UTC
        raise ScheduleError(
            f"{send_at.isoformat()} is no usable time: choose one within {MAX_AHEAD.days} days"
        ) from None
    if when <= now:
        raise ScheduleError(
            f"{local} ({timezone}) is in the past: choose a later time, or send it now"
        )
    if when > now + MAX_AHEAD:
        raise ScheduleError(
            f"{local} ({timezone}) is more than {MAX_AHEAD.days} days ahead: "
            "schedule it closer to the day"
        )
    return when


def schedule(
    session: Session,
    *,
    campaign_id: int,
    send_at: dt.datetime,
    actor: str,
    timezone: str,
    now: dt.datetime | None = None,
) -> Campaign:
    """Set (or move) the draft bulletin's start time; audited."""
    now = now or utcnow()
    when = check_send_at(send_at, now=now, timezone=timezone)
    try:
        campaign = draft_bulletin(session, campaign_id)
    except ApprovalError as exc:
        raise ScheduleError(str(exc)) from exc
    campaign.send_at = when
    campaign.scheduled_by = actor
    campaign.schedule_note = None
    local = when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    record_audit(
        session,
        actor=actor,
        action="bulletin.scheduled",
        target=f"campaign {campaign_id}",
        detail=f"to start at {local} ({timezone})",
    )
    return campaign


def unschedule(session: Session, *, campaign_id: int, actor: str) -> Campaign:
    """Take the draft off the schedule (it stays a draft); audited."""
    try:
        campaign = draft_bulletin(session, campaign_id)
    except ApprovalError as exc:
        raise ScheduleError(str(exc)) from exc
    if campaign.send_at is None:
        raise ScheduleError(f"bulletin #{campaign_id} is not scheduled")
    campaign.send_at = None
    campaign.scheduled_by = None
    campaign.schedule_note = None
    record_audit(
        session, actor=actor, action="bulletin.unscheduled", target=f"campaign {campaign_id}"
    )
    return campaign


def due_bulletins(session: Session, *, now: dt.datetime) -> list[int]:
    """Scheduled drafts whose time has come and that were not held back."""
    return list(
        session.scalars(
            select(Campaign.id)
            .where(
                Campaign.send_at.is_not(None),
                Campaign.send_at <= now,
                Campaign.status == CampaignStatus.DRAFT,
                Campaign.kind == CampaignKind.BULLETIN,
                Campaign.schedule_note.is_(None),
            )
            .order_by(Campaign.send_at, Campaign.id)
        )
    )


def scheduled_bulletins(session: Session) -> list[Campaign]:
    """Every draft with a start time, soonest first (the dashboard's list)."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.send_at.is_not(None), Campaign.status == CampaignStatus.DRAFT)
            .order_by(Campaign.send_at, Campaign.id)
        )
    )


def start_if_due(
    session: Session,
    *,
    campaign_id: int,
    threshold: int,
    batch_size: int,
    now: dt.datetime | None = None,
) -> Work | None:
    """Start the bulletin if it is still due and allowed; its work, else None.

    The first statement is a conditional UPDATE: a second beat or worker asking at the
    same moment waits for this transaction, then matches no row (it is no longer a
    draft, or it carries a note) and starts nothing.
    """
    now = now or utcnow()
    claimed = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.DRAFT,
            Campaign.send_at.is_not(None),
            Campaign.send_at <= now,
            Campaign.schedule_note.is_(None),
        )
        .values(send_at=Campaign.send_at)  # changes nothing; takes the lock
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    campaign = session.get_one(Campaign, campaign_id)
    recipients = count_eligible(session, campaign_id=campaign_id)
    blocker = send_blocker(
        campaign, recipients=recipients, threshold=threshold, sender=campaign.scheduled_by or ""
    )
    if blocker is not None:
        campaign.schedule_note = f"not started at its time: {blocker}"
        record_audit(
            session,
            actor=SCHEDULER,
            action="bulletin.schedule_held",
            target=f"campaign {campaign_id}",
            detail=blocker,
        )
        return None
    work = start_campaign(session, campaign_id=campaign_id, batch_size=batch_size, now=now)
    record_audit(
        session,
        actor=SCHEDULER,
        action="bulletin.sent",
        target=f"campaign {campaign_id}",
        detail=f"{campaign.total_count} recipients; scheduled by {campaign.scheduled_by}",
    )
    return work
