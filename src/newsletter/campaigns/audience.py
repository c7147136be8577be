"""Who a campaign reaches, and starting it: one INSERT … SELECT of them into its ledger.

A subscriber with no category rows reads every category, and a campaign with no
categories goes to every active subscriber (DESIGN.md); areas follow the same rule
(subscribers/areas.py). `eligible_subscribers` is the
SELECT that `start_campaign` inserts into the ledger; `count_eligible` is what the admin,
the API and `bulletin send` show before a start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Select, and_, exists, func, insert, literal, not_, select, true, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, GenerativeSelect

from newsletter.delivery.ledger import Work, queued_ranges
from newsletter.delivery.watermarks import FREQUENCY_OF
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
    campaign_areas,
    campaign_categories,
    subscriber_areas,
    subscriber_categories,
    utcnow,
)
from newsletter.subscribers.areas import related_area_ids


def campaign_category_ids(session: Session, campaign_id: int) -> list[int]:
    return list(
        session.scalars(
            select(campaign_categories.c.category_id).where(
                campaign_categories.c.campaign_id == campaign_id
            )
        )
    )


def campaign_area_ids(session: Session, campaign_id: int) -> list[int]:
    """The areas the campaign reaches: its targets, the areas inside and around them."""
    targets = session.scalars(
        select(campaign_areas.c.area_id).where(campaign_areas.c.campaign_id == campaign_id)
    )
    return sorted(related_area_ids(session, list(targets)))


def eligible_subscribers(
    campaign_id: int,
    *,
    category_ids: Collection[int],
    has_rows: bool,
    frequency: Frequency | None = None,
    area_ids: Collection[int] = (),
) -> GenerativeSelect:
    """Active subscribers in the campaign's categories and areas (no rows on a side: all).

    `category_ids`: the campaign's, read first, so PostgreSQL plans with the real values:
    the readers of a small category come from the category index (10,000 of 1,000,000
    subscribers: ~20 ms) instead of a per-subscriber test over the whole table (3.5 s).
    Subscribers with no category read everything; they come from the partial index of
    `reads_every_category` (kept by triggers, migration 0007), not from an anti-join
    over every subscriber (~0.5 s at 1,000,000).

    `area_ids`: the areas the campaign reaches (`campaign_area_ids`, already widened to
    the areas inside and around its targets). A subscriber with an area among them, or
    with no area at all (`reads_every_area`, its own partial index, migration 0014),
    is in. Each side splits into two disjoint halves, so the query is a UNION ALL of up
    to four index-driven parts and needs no de-duplication.

    `has_rows`: the campaign already has ledger rows, so those subscribers are left out.
    When it has none the anti-join is omitted: PostgreSQL plans it as a nested loop over
    the ledger it is filling (which it believes empty), quadratic in the list — 130 s
    for 100,000 rows (docs/benchmarks.md).

    `frequency`: only subscribers who chose it (a weekly digest, a daily one, an alert);
    None (a bulletin): everyone, whatever their frequency.
    """
    already_in_ledger = exists().where(
        and_(Delivery.campaign_id == campaign_id, Delivery.subscriber_id == Subscriber.id)
    )

    def active(*conditions: ColumnElement[bool]) -> Select[int, int, str, int]:
        query = select(
            literal(campaign_id),
            Subscriber.id,
            literal(DeliveryStatus.QUEUED.value),
            literal(0),
        ).where(Subscriber.status == SubscriberStatus.ACTIVE, *conditions)
        if frequency is not None:
            query = query.where(Subscriber.frequency == frequency)
        return query.where(not_(already_in_ledger)) if has_rows else query

    halves: list[list[ColumnElement[bool]]] = [[]]
    if category_ids:
        readers = select(subscriber_categories.c.subscriber_id).where(
            subscriber_categories.c.category_id.in_(category_ids)
        )
        halves = [[Subscriber.id.in_(readers)], [Subscriber.reads_every_category == true()]]
    if area_ids:
        residents = select(subscriber_areas.c.subscriber_id).where(
            subscriber_areas.c.area_id.in_(area_ids)
        )
        area_halves = [Subscriber.id.in_(residents), Subscriber.reads_every_area == true()]
        halves = [[*half, area_half] for half in halves for area_half in area_halves]
    if len(halves) == 1:
        return active(*halves[0]).order_by(Subscriber.id)
    both = union_all(*(active(*half) for half in halves))
    return both.order_by(both.selected_columns.id)


def ledger_has_rows(session: Session, campaign_id: int) -> bool:
    """Whether the campaign already holds delivery rows (one indexed look-up)."""
    found = session.scalar(select(Delivery.id).where(Delivery.campaign_id == campaign_id).limit(1))
    return found is not None


def audience_frequency(session: Session, campaign_id: int) -> Frequency | None:
    """Who a campaign's kind goes to: weekly, daily or immediate readers; None: everyone."""
    kind = session.scalar(select(Campaign.kind).where(Campaign.id == campaign_id))
    return None if kind is None else FREQUENCY_OF.get(kind)


def count_eligible(session: Session, *, campaign_id: int) -> int:
    """How many residents starting this campaign now would write into the ledger.

    The same SELECT as `start_campaign` (categories and areas), so the number an official
    confirms is the number of rows the start writes.
    """
    eligible = (
        eligible_subscribers(
            campaign_id,
            category_ids=campaign_category_ids(session, campaign_id),
            has_rows=ledger_has_rows(session, campaign_id),
            frequency=audience_frequency(session, campaign_id),
            area_ids=campaign_area_ids(session, campaign_id),
        )
        .order_by(None)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(eligible)) or 0


def start_campaign(
    session: Session, *, campaign_id: int, batch_size: int = 500, now: dt.datetime | None = None
) -> Work:
    """Fill the ledger of a draft campaign in one INSERT … SELECT and mark it sending.

    Starting a campaign that is not a draft changes nothing and returns no work, so a
    double click, a retried request or a second beat never sends twice. Suppressed
    addresses are checked again when each row is claimed (the hash cannot be computed
    in SQL on SQLite), so a row may end `skipped`.
    """
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    if campaign.status is not CampaignStatus.DRAFT:
        return Work(campaign_id, campaign.kind, [])
    has_rows = ledger_has_rows(session, campaign_id)
    session.execute(
        insert(Delivery).from_select(
            ["campaign_id", "subscriber_id", "status", "attempts"],
            eligible_subscribers(
                campaign_id,
                category_ids=campaign_category_ids(session, campaign_id),
                has_rows=has_rows,
                frequency=FREQUENCY_OF.get(campaign.kind),
                area_ids=campaign_area_ids(session, campaign_id),
            ),
        )
    )
    total = session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) or 0
    campaign.status = CampaignStatus.SENDING
    campaign.started_at = now
    campaign.progress_at = now
    campaign.total_count = total
    if total == 0:
        campaign.status = CampaignStatus.SENT
        campaign.finished_at = now
    session.flush()
    ranges = queued_ranges(session, campaign_id=campaign_id, size=batch_size)
    return Work(campaign_id, campaign.kind, ranges, started=True)
