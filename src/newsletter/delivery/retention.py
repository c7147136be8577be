"""Retention: the per-recipient ledger of old campaigns is deleted, their totals stay.

`deliveries` says who got which campaign, when, and what their server answered: personal
data, kept only as long as it is useful (NEWSLETTER_RETENTION_DAYS, 400 days by default:
a year of history plus time to look into a complaint about it). A campaign that finished
(sent or cancelled) before the cut-off loses all of its delivery rows at once, so a
campaign's ledger is either whole or gone — never half counted. Its totals (`total_count`,
`sent_count`, `failed_count`, `bounced_count`, `complaint_count`) stay on `campaigns`,
and `campaigns.meta["ledger_pruned_at"]` says the ledger is gone, so progress is read from
the totals from then on (campaigns/control.py). A draft, sending or paused campaign is
never touched, whatever its age.

Set-based and in batches: each statement deletes at most `batch_size` rows of one
campaign, found by the (campaign_id, status, id) index, in a transaction of its own that
also re-reads the campaign under a shared lock, so the ledger is never locked for long,
a resume or retry cannot interleave with a batch, and a run interrupted anywhere
leaves nothing half-done but the rows it has not reached yet (the next night goes on).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.models import Campaign, CampaignStatus, Delivery, utcnow

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000
FINISHED = (CampaignStatus.SENT, CampaignStatus.CANCELLED)
PRUNED_KEY = "ledger_pruned_at"


@dataclass
class RetentionReport:
    """What one run deleted: rows per campaign, and in how many batches (transactions)."""

    cutoff: dt.datetime
    deleted: dict[int, int] = field(default_factory=dict)
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def cutoff_for(days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    return (now or utcnow()) - dt.timedelta(days=days)


def _finished_before(cutoff: dt.datetime) -> ColumnElement[bool]:
    # A finished campaign without finished_at (older data) counts from its creation.
    finished_at = func.coalesce(Campaign.finished_at, Campaign.created_at)
    return and_(Campaign.status.in_(FINISHED), finished_at < cutoff)


def expired_campaigns(session: Session, *, cutoff: dt.datetime) -> list[int]:
    """Ids of the campaigns that finished before `cutoff` (their rows may still exist)."""
    return list(
        session.scalars(select(Campaign.id).where(_finished_before(cutoff)).order_by(Campaign.id))
    )


def delete_batch(
    session: Session, *, campaign_id: int, cutoff: dt.datetime, batch_size: int
) -> int:
    """Delete up to `batch_size` delivery rows of an expired campaign; how many went.

    The campaign is read again under a shared lock: one that was resumed or retried since
    (sending again) keeps its rows.
    """
    campaign = session.scalars(
        select(Campaign)
        .where(Campaign.id == campaign_id, _finished_before(cutoff))
        .with_for_update(read=True)
    ).one_or_none()
    if campaign is None:
        return 0
    if not (campaign.meta or {}).get(PRUNED_KEY):
        campaign.meta = {**(campaign.meta or {}), PRUNED_KEY: utcnow().isoformat()}
    first_rows = (
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id)
        .order_by(Delivery.id)
        .limit(batch_size)
        .subquery()
    )
    upto = session.scalar(select(func.max(first_rows.c.id)))
    if upto is None:
        return 0
    result = session.execute(
        delete(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.id <= upto),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_retention(
    sessions: sessionmaker[Session],
    *,
    days: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: dt.datetime | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> RetentionReport:
    """Delete the ledger of every campaign finished more than `days` ago, batch by batch.

    Each batch commits on its own; `on_batch(campaign_id, rows)` follows each (progress).
    """
    report = RetentionReport(cutoff=cutoff_for(days, now=now))
    with sessions() as session:
        campaign_ids = expired_campaigns(session, cutoff=report.cutoff)
    for campaign_id in campaign_ids:
        # A campaign pruned on an earlier night costs one indexed look-up that finds nothing.
        while True:
            with sessions.begin() as session:
                deleted = delete_batch(
                    session, campaign_id=campaign_id, cutoff=report.cutoff, batch_size=batch_size
                )
            if not deleted:
                break
            report.batches += 1
            report.deleted[campaign_id] = report.deleted.get(campaign_id, 0) + deleted
            if on_batch is not None:
                on_batch(campaign_id, deleted)
            if deleted < batch_size:
                break
    if report.total:
        log.info(
            "retention: deleted %d delivery row(s) of %d campaign(s) finished before %s",
            report.total, len(report.deleted), report.cutoff.isoformat(),
        )  # fmt: skip
    return report


def ledger_pruned(campaign: Campaign) -> bool:
    """The campaign's delivery rows were deleted by retention: read its totals instead."""
    return bool((campaign.meta or {}).get(PRUNED_KEY))
