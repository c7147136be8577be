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
from newsletter.delivery.retention import ledger_pruned
from newsletter.delivery.watermarks import restore
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
    # Rows claimed once and given back (a daily cap, a lost connection) moved their
    # subscriber's watermark: give it back, so the next mail brings those articles.
    restore(
        session,
        delivery_ids=list(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.campaign_id == campaign_id,
                    Delivery.status == DeliveryStatus.QUEUED,
                    Delivery.after_article.is_not(None),
                )
            )
        ),
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.SKIPPED, last_error="campaign cancelled", updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def retry_failed(
    session: Session, *, campaign_id: int, batch_size: int = 500, now: dt.datetime | None = None
) -> Work:
    """Queue a campaign's failed rows again (suppressed addresses are still skipped).

    With no failed row there is nothing to do: CampaignStateError says so and nothing
    changes (a sent campaign stays sent, so a later pause cannot strand it as paused).
    """
    now = now or utcnow()
    campaign = _campaign(session, campaign_id)
    if campaign.status not in (CampaignStatus.SENDING, CampaignStatus.SENT, CampaignStatus.PAUSED):
        raise CampaignStateError(f"campaign {campaign_id} is {campaign.status.value}")
    requeued = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.FAILED)
        # A retried row reads its subscriber's watermark again at its claim: a mail sent
        # to them meanwhile already brought those articles (delivery/watermarks.py).
        .values(status=DeliveryStatus.QUEUED, attempts=0, updated_at=now, after_article=None)
    )
    if not requeued.rowcount:  # type: ignore[attr-defined]
        raise CampaignStateError(
            f"campaign {campaign_id} has no failed message to retry; nothing changed"
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


def allowed_actions(status: str, *, retryable: int) -> list[str]:
    """The actions that would do something for a campaign in `status` with `retryable`
    failed rows; the admin shows only these (each still checks the state itself)."""
    actions = {
        CampaignStatus.DRAFT.value: ["cancel"],
        CampaignStatus.SENDING.value: ["pause", "cancel"],
        CampaignStatus.PAUSED.value: ["resume", "cancel"],
    }.get(status, [])
    if retryable and status in (
        CampaignStatus.SENDING.value,
        CampaignStatus.PAUSED.value,
        CampaignStatus.SENT.value,
    ):
        actions.append("retry-failed")
    return actions


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
    failed: int  # failed or bounced
    retryable: int  # failed rows that retry-failed would queue again
    skipped: int
    waiting: int  # queued or being sent
    rate: float  # messages/s: over the last minute while it sends, else the whole send's
    seconds_left: float | None  # None when finished, or when nothing moves to estimate by
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    actions: tuple[str, ...]  # what the admin may do now (allowed_actions)

    def as_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        for key in ("started_at", "finished_at"):
            value = data[key]
            data[key] = value.isoformat() if isinstance(value, dt.datetime) else None
        data["actions"] = list(self.actions)
        return data


def _aware(value: dt.datetime) -> dt.datetime:
    # MIN()/MAX() come back as the backend stores them: naive on SQLite, which is UTC here.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def send_rate(session: Session, *, campaign: Campaign, now: dt.datetime) -> float:
    """Messages per second from the ledger's sent_at, never averaged over idle time.

    While the campaign sends (or was just paused): the rows sent in the last minute over
    the time since the first of them, so a 300-message burst of 6 s reads 50/s, not 300/60.
    Once finished: the whole send's average, first to last message.
    """
    sent = (Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.SENT)
    if campaign.status in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        count, first = session.execute(
            select(func.count(), func.min(Delivery.sent_at)).where(
                *sent, Delivery.sent_at >= now - RATE_WINDOW
            )
        ).one()
        if not count or first is None:
            return 0.0
        # At least a second: two messages 2 ms apart are not 1,000 per second.
        span = max((now - _aware(first)).total_seconds(), 1.0)
        return float(count) / span
    count, first, last = session.execute(
        select(func.count(), func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(*sent)
    ).one()
    if not count or first is None or last is None:
        return 0.0
    span = (_aware(last) - _aware(first)).total_seconds()
    # n messages are n - 1 intervals; one message (or one instant) has no rate to speak of.
    return (count - 1) / span if count > 1 and span > 0 else 0.0


def progress(session: Session, *, campaign_id: int, now: dt.datetime | None = None) -> Progress:
    """Live progress from the ledger itself (the campaign's counters may lag a chunk)."""
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    if ledger_pruned(campaign):
        return _from_totals(campaign)
    counts = status_counts(session, campaign_id=campaign_id)
    rate = send_rate(session, campaign=campaign, now=now)
    waiting = counts[DeliveryStatus.QUEUED] + counts[DeliveryStatus.SENDING]
    live = campaign.status is CampaignStatus.SENDING
    seconds_left: float | None = None
    if live and waiting and rate > 0:
        seconds_left = round(waiting / rate)
    elif live and not waiting:
        seconds_left = 0
    return Progress(
        id=campaign.id,
        kind=campaign.kind.value,
        status=campaign.status.value,
        subject=campaign.subject,
        total=sum(counts.values()),
        sent=counts[DeliveryStatus.SENT],
        failed=counts[DeliveryStatus.FAILED] + counts[DeliveryStatus.BOUNCED],
        retryable=counts[DeliveryStatus.FAILED],
        skipped=counts[DeliveryStatus.SKIPPED],
        waiting=waiting,
        rate=round(rate, 2),
        seconds_left=seconds_left,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        actions=tuple(
            allowed_actions(campaign.status.value, retryable=counts[DeliveryStatus.FAILED])
        ),
    )


def _from_totals(campaign: Campaign) -> Progress:
    """A finished campaign whose ledger retention deleted: its totals, kept on the row."""
    failed = campaign.failed_count + campaign.bounced_count
    return Progress(
        id=campaign.id,
        kind=campaign.kind.value,
        status=campaign.status.value,
        subject=campaign.subject,
        total=campaign.total_count,
        sent=campaign.sent_count,
        failed=failed,
        retryable=0,
        skipped=max(campaign.total_count - campaign.sent_count - failed, 0),
        waiting=0,
        rate=0.0,
        seconds_left=None,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        actions=tuple(allowed_actions(campaign.status.value, retryable=0)),
    )


def list_campaigns(session: Session, *, limit: int = 50) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))
