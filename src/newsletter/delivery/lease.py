"""Leases: how long a claim holds its rows, how a live batch keeps them, who takes them back.

A claim stamps its rows' `claimed_at`; that stamp is both the lease's start and the
claim's identity. A batch renews the stamp of the rows it still holds every RENEW_EVERY
seconds while it sends (`renew`), so only a batch that stopped running — its process
killed, the machine gone — lets a lease run out. The reconciler (`reconcile`, beat every
RECONCILE_EVERY) then puts those rows back to `queued` and hands their id ranges back at
once, so another worker sends them within LEASE + RECONCILE_EVERY of the death
(docs/delivery.md, "Leases").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from newsletter.delivery.ledger import Work, finish_if_done, queued_ranges
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, utcnow

# A live batch renews its rows this often: between two renewals it sends at most one
# message that may take up to the SMTP timeout (30 s by default)...
RENEW_EVERY = dt.timedelta(seconds=10)
# ...so a lease this long never ends under a live batch, and a dead one's rows are free
# 45 s after its last renewal (at most 45 s after its death).
LEASE = dt.timedelta(seconds=45)
# How often beat runs the reconciler: a dead worker's rows are sent again within
# LEASE + RECONCILE_EVERY (+ one pick-up and their sending) of the death, under a minute.
# Every 10 s left 4–5 s of margin once chunks grew to 250 rows (a dead worker holds up to
# ~1,000, re-sent in about a second): `make bench` measured 55–56 s. One look costs an
# index scan of the rows in flight (docs/delivery.md).
RECONCILE_EVERY = dt.timedelta(seconds=5)
# A sending campaign with queued rows and no progress for this long lost its tasks.
STALL = dt.timedelta(minutes=2)

_HOLDING = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED)


def renew(
    executor: Session | Connection,
    *,
    delivery_ids: Sequence[int],
    held_since: dt.datetime,
    now: dt.datetime,
) -> set[int]:
    """Extend the lease of rows this batch still holds; return the ids it still holds.

    A row is held while it is `sending` with the stamp of this batch's claim (or last
    renewal). A row missing from the answer was taken back (the batch was stopped longer
    than the lease: a paused VM, a SIGSTOP) and may be another batch's now: the caller
    must not send it.
    """
    if not delivery_ids:
        return set()
    rows = executor.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(delivery_ids),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_at == held_since,
        )
        .values(claimed_at=now)
        .returning(Delivery.id)
    )
    return {int(row[0]) for row in rows}


def reconcile(
    session: Session,
    *,
    now: dt.datetime | None = None,
    lease: dt.timedelta = LEASE,
    stall: dt.timedelta = STALL,
    batch_size: int = 500,
) -> list[Work]:
    """Requeue rows whose lease ran out and hand them back; re-enqueue stalled campaigns.

    A row stays `sending` past its lease only when its batch stopped running (SIGKILL,
    power loss): its campaign's queued ranges are returned at once, not after the stall. A sending
    campaign with queued rows and no progress lost its tasks. Enqueueing a range twice
    is harmless: the claim hands each row to one task.
    """
    now = now or utcnow()
    # Only unfinished campaigns can hold `sending` rows: the campaign filter lets
    # PostgreSQL read the (campaign_id, status, id) index instead of the whole ledger,
    # which this runs over every RECONCILE_EVERY.
    expired = session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id.in_(select(Campaign.id).where(Campaign.status.in_(_HOLDING))),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_at < now - lease,
        )
        .values(status=DeliveryStatus.QUEUED, claimed_at=None, updated_at=now)
        .returning(Delivery.campaign_id)
    ).all()
    freed = {int(campaign_id) for (campaign_id,) in expired}
    # Rows of a cancelled campaign that a dead worker held go where the rest went.
    session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id.in_(
                select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED)
            ),
            Delivery.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.SKIPPED, last_error="campaign cancelled", updated_at=now)
    )
    work: list[Work] = []
    sending = session.scalars(
        select(Campaign).where(Campaign.status == CampaignStatus.SENDING).with_for_update()
    ).all()
    for campaign in sending:
        if finish_if_done(session, campaign_id=campaign.id, now=now):
            continue
        last = campaign.progress_at or campaign.started_at or now
        if now - last < stall and campaign.id not in freed:
            continue
        # Every queued range, not just the freed rows': the dead worker's tasks also held
        # the unclaimed rest of their ranges, and Redis gives those tasks back only after
        # the visibility timeout. A range enqueued twice costs an empty claim.
        ranges = queued_ranges(session, campaign_id=campaign.id, size=batch_size)
        if ranges:
            campaign.progress_at = now
            work.append(Work(campaign.id, campaign.kind, ranges))
    session.flush()
    return work
