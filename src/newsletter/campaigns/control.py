"""Campaign control: pause, resume, cancel, retry failed rows, progress, a bulletin draft.

Like delivery/ledger.py, each function takes a session and leaves the commit to the caller;
those that make work return it for the caller to enqueue after the commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.ledger import Work, queued_ranges, status_counts
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    utcnow,
)


class CampaignStateError(Exception):
    """The campaign is not in a state that allows this action; the message says why."""


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return campaign


def pause(session: Session, *, campaign_id: int) -> None:
    """Stop claiming rows; a chunk already claimed (a few seconds of sending) finishes."""
    campaign = _campaign(session, campaign_id)
    if campaign.status is not CampaignStatus.SENDING:
        raise CampaignStateError(f"campaign {campaign_id} is {campaign.status.value}, not sending")
    campaign.status = CampaignStatus.PAUSED


def resume(
    session: Session, *, campaign_id: int, batch_size: int = 500, now: dt.datetime | None = None
) -> Work:
    campaign = _campaign(session, campaign_id)
    if campaign.status is not CampaignStatus.PAUSED:
        raise CampaignStateError(f"campaign {campaign_id} is {campaign.status.value}, not paused")
    campaign.status = CampaignStatus.SENDING
    campaign.progress_at = now or utcnow()
    session.flush()
    return Work(
        campaign_id, campaign.kind, queued_ranges(session, campaign_id=campaign_id, size=batch_size)
    )


def cancel(session: Session, *, campaign_id: int, now: dt.datetime | None = None) -> int:
    """Cancel a campaign: its queued rows become `skipped`. Returns how many."""
    now = now or utcnow()
    campaign = _campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.PAUSED):
        raise CampaignStateError(f"campaign {campaign_id} is already {campaign.status.value}")
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = now
    result = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SKIPPED, last_error="campaign cancelled", updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_failed(
    session: Session, *, campaign_id: int, batch_size: int = 500, now: dt.datetime | None = None
) -> Work:
    """Queue a campaign's failed rows again (suppressed addresses are still skipped)."""
    now = now or utcnow()
    campaign = _campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT, CampaignStatus.PAUSED):
        raise CampaignStateError(f"campaign {campaign_id} is {campaign.status.value}")
    session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.QUEUED, attempts=0, updated_at=now)
    )
    if campaign.status is CampaignStatus.SENT:
        campaign.status = CampaignStatus.SENDING
        campaign.finished_at = None
    campaign.progress_at = now
    session.flush()
    if campaign.status is CampaignStatus.PAUSED:
        return Work(campaign_id, campaign.kind, [])
    return Work(
        campaign_id, campaign.kind, queued_ranges(session, campaign_id=campaign_id, size=batch_size)
    )


# --- progress --------------------------------------------------------------------------

RATE_WINDOW = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Progress:
    id: int
    kind: str
    status: str
    subject: str
    total: int
    sent: int
    failed: int
    skipped: int
    waiting: int  # queued or being sent
    rate: float  # messages/s over the last minute
    seconds_left: float | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if isinstance(value, dt.datetime) else None
        return data


def progress(session: Session, *, campaign_id: int, now: dt.datetime | None = None) -> Progress:
    """Live progress from the ledger itself (the campaign's counters may lag a chunk)."""
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    counts = status_counts(session, campaign_id=campaign_id)
    recent = session.scalar(
        select(func.count()).where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at >= now - RATE_WINDOW,
        )
    )
    rate = (recent or 0) / RATE_WINDOW.total_seconds()
    waiting = counts[DeliveryStatus.QUEUED] + counts[DeliveryStatus.SENDING]
    return Progress(
        id=campaign.id,
        kind=campaign.kind.value,
        status=campaign.status.value,
        subject=campaign.subject,
        total=sum(counts.values()),
        sent=counts[DeliveryStatus.SENT],
        failed=counts[DeliveryStatus.FAILED] + counts[DeliveryStatus.BOUNCED],
        skipped=counts[DeliveryStatus.SKIPPED],
        waiting=waiting,
        rate=round(rate, 2),
        seconds_left=round(waiting / rate)
        if rate > 0 and waiting
        else (0 if not waiting else None),
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
    )


def list_campaigns(session: Session, *, limit: int = 50) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))
