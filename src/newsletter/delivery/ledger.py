"""The ledger: mark claimed rows; the id ranges a campaign's batches cover.

Every function takes a session and leaves the transaction to the caller; the functions
that make work return the id ranges to enqueue, which the caller enqueues only after
its commit returned (a task must never look for rows that are not committed yet).
Claiming rows is in delivery/claims.py; leases (how long a claim holds, renewing it, the
reconciler) are in delivery/lease.py.
See docs/delivery.md for the guarantees.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from newsletter.delivery.watermarks import restore
from newsletter.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    utcnow,
)

# Temporary failures (4xx, connection drops) per row before it is marked failed.
MAX_ATTEMPTS = 5

BatchRange = tuple[int, int]


@dataclass(frozen=True)
class Work:
    """Batches to enqueue for one campaign: (first_id, last_id) ranges of its ledger."""

    campaign_id: int
    kind: CampaignKind
    ranges: list[BatchRange]
    started: bool = False  # this call moved the campaign from draft to sending


def suspend(session: Session, *, campaign_id: int, reason: str) -> None:
    """Pause a sending campaign that cannot go on by itself (its messages cannot be built).

    Nothing is lost: the rows stay queued, the reason is kept in `meta["paused_reason"]`,
    and `newsletter campaigns resume` continues once the cause is fixed.
    """
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.status is not CampaignStatus.SENDING:
        return
    campaign.status = CampaignStatus.PAUSED
    campaign.meta = {**(campaign.meta or {}), "paused_reason": reason[:2000]}


def queued_ranges(session: Session, *, campaign_id: int, size: int = 500) -> list[BatchRange]:
    """The campaign's queued rows cut into id ranges of `size` rows each."""
    numbered = (
        select(
            Delivery.id.label("id"),
            ((func.row_number().over(order_by=Delivery.id) - 1) // size).label("batch"),
        )
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.QUEUED)
        .subquery()
    )
    rows = session.execute(
        select(func.min(numbered.c.id), func.max(numbered.c.id))
        .group_by(numbered.c.batch)
        .order_by(numbered.c.batch)
    )
    return [(int(first), int(last)) for first, last in rows]


_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
# Built once: marking sent is the one statement per message, so it skips the ORM's
# bulk-update machinery (docs/benchmarks.md). Parameters: delivery_id, message_id, now.
_MARK_SENT = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("delivery_id"),
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
    )
    .values(
        status=DeliveryStatus.SENT,
        message_id=bindparam("sent_message_id"),
        sent_at=bindparam("now"),
        updated_at=bindparam("now"),
        attempts=_DELIVERIES.c.attempts + 1,
        last_error=None,
    )
)


# The same UPDATE as PostgreSQL text, for a chunk's held psycopg connection (delivery/
# marks.py): prepared once per connection, it costs half the client CPU of the Core
# statement (~50 against ~110 µs a message, docs/benchmarks.md). Parameters: message_id,
# now, now, delivery_id. tests/test_delivery_marks.py holds the two to the same row.
MARK_SENT_PG = (
    "UPDATE deliveries SET status = 'sent', message_id = %s, sent_at = %s, updated_at = %s,"
    " attempts = attempts + 1, last_error = NULL WHERE id = %s AND status = 'sending'"
)


def mark_sent(
    executor: Session | Connection, *, delivery_id: int, message_id: str, now: dt.datetime
) -> None:
    """Mark a `sending` row sent: one UPDATE, on a session or a bare connection."""
    executor.execute(
        _MARK_SENT, {"delivery_id": delivery_id, "sent_message_id": message_id, "now": now}
    )


def mark_failed(
    session: Session, *, delivery_id: int, error: str, permanent: bool, now: dt.datetime
) -> DeliveryStatus:
    """Record a failed attempt: permanent, or the last allowed → failed; else queued again."""
    attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id)) or 0
    final = permanent or attempts + 1 >= MAX_ATTEMPTS
    status = DeliveryStatus.FAILED if final else DeliveryStatus.QUEUED
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING)
        .values(
            status=status,
            attempts=Delivery.attempts + 1,
            last_error=error[:2000],
            claimed_at=None,
            updated_at=now,
        )
    )
    if final:
        restore(session, delivery_ids=[delivery_id])
    return status


def requeue_unattempted(
    session: Session, *, delivery_id: int, error: str, now: dt.datetime
) -> None:
    """Back to `queued` without using an attempt: the transport could take no message.

    A relay down for a few minutes, or a full outbox disk, must not use up the
    MAX_ATTEMPTS of the rows that happen to be first in line each time a batch retries.
    """
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.SENDING)
        .values(
            status=DeliveryStatus.QUEUED, last_error=error[:2000], claimed_at=None, updated_at=now
        )
    )


def add_bounce_score(
    session: Session, *, subscriber_id: int, half_life_days: float, now: dt.datetime
) -> None:
    """A 5xx refusal of the recipient that names the address (not a policy refusal)
    adds 1 to the subscriber's bounce score.

    The score decays like bounce_rules' (half-life NEWSLETTER_BOUNCE_HALF_LIFE_DAYS), so
    both kinds of evidence add up on one scale; condemning an address stays the bounce
    rules' decision (a relay refusing every message must not unsubscribe everyone).
    """
    # Imported here, as in claim(): bounce parsing is a worker's business, not the CLI's.
    from newsletter.bounces.rules import decayed_score

    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        return
    score = decayed_score(subscriber.bounce_score, subscriber.bounce_score_at, now, half_life_days)
    subscriber.bounce_score = score + 1.0
    subscriber.bounce_score_at = now


def mark_skipped(
    session: Session, *, delivery_ids: Sequence[int], reason: str, now: dt.datetime
) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.SKIPPED, last_error=reason, updated_at=now)
    )


def release(session: Session, *, delivery_ids: Sequence[int]) -> None:
    """Give claimed rows back untouched (the batch stopped before trying them)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, claimed_at=None)
    )


def record_progress(
    session: Session, *, campaign_id: int, sent: int, failed: int, now: dt.datetime
) -> None:
    """Bump the campaign's counters by one chunk's outcome (finish() recounts exactly)."""
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            sent_count=Campaign.sent_count + sent,
            failed_count=Campaign.failed_count + failed,
            progress_at=now,
        )
    )


def status_counts(session: Session, *, campaign_id: int) -> dict[DeliveryStatus, int]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    counts = dict.fromkeys(DeliveryStatus, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def finish_if_done(session: Session, *, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a sending campaign sent once no row is queued or sending; exact counters then.

    Until then the counters bumped per chunk (record_progress) stand: recounting the
    ledger after every batch read all of a 1,000,000-row campaign 2,000 times
    (docs/benchmarks.md); one indexed look-up says whether anything is left.
    """
    left = session.scalar(
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
        )
        .limit(1)
    )
    if left is not None:
        return False
    counts = status_counts(session, campaign_id=campaign_id)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return False
    campaign.sent_count = counts[DeliveryStatus.SENT]
    campaign.failed_count = counts[DeliveryStatus.FAILED]
    if counts[DeliveryStatus.QUEUED] or counts[DeliveryStatus.SENDING]:
        return False
    if campaign.status is CampaignStatus.SENDING:
        campaign.status = CampaignStatus.SENT
        campaign.finished_at = now or utcnow()
    return True
