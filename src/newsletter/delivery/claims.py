"""Claiming a chunk of a batch's rows: moved to `sending`, joined with their subscribers.

A claimed row carries what its message needs (the address, the key its links are signed
with) and whether it may be sent at all (an active subscriber whose address is not
suppressed). On PostgreSQL the claim is one statement; elsewhere (SQLite) four. The rest
of the ledger (marks, leases' ranges, a campaign's end) is in delivery/ledger.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Table, all_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from newsletter.address_key import address_key_of
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    subscriber_categories,
    utcnow,
)


@dataclass(frozen=True)
class ClaimedRow:
    delivery_id: int
    subscriber_id: int | None
    email: str | None
    deliverable: bool  # active and not suppressed at claim time
    link_key: str | None = None  # signed into the recipient's links (mail.links)


def claim(
    session: Session,
    *,
    campaign_id: int,
    first_id: int,
    last_id: int,
    limit: int,
    exclude: Collection[int] = (),
    now: dt.datetime | None = None,
) -> list[ClaimedRow]:
    """Move up to `limit` queued rows of the range to `sending` and return them.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets two tasks over the same range share it
    without waiting; on SQLite `BEGIN IMMEDIATE` (db.py) already serialises writers.
    Nothing is claimed unless the campaign is sending (paused and cancelled stop here).
    `exclude` holds rows this batch already tried: a temporary failure waits for a retry.
    """
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        params = {"of_campaign": campaign_id, "first_id": first_id, "last_id": last_id,
                  "limit": limit, "exclude": list(exclude), "now": now}  # fmt: skip
        rows = session.execute(_CLAIM_PG, params).all()
        return _with_suppressions(session, rows)
    status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    if status is not CampaignStatus.SENDING:
        return []
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.id.between(first_id, last_id),
                Delivery.status == DeliveryStatus.QUEUED,
                Delivery.id.not_in(exclude),
            )
            .order_by(Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(status=DeliveryStatus.SENDING, claimed_at=now, updated_at=now)
    )
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.subscriber_id,
            Subscriber.email,
            Subscriber.status,
            Subscriber.link_key,
        )
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()
    return _with_suppressions(session, rows)


def _with_suppressions(session: Session, rows: Sequence[Sequence[Any]]) -> list[ClaimedRow]:
    """Claimed (delivery id, subscriber id, email, status, link key) rows, each told
    whether it may be sent: an active subscriber whose address is not suppressed."""
    # Imported here: only workers claim. `bulletin send` imports this module to start the
    # campaign, and email-validator (~60 ms to import) would delay its first batch.
    from newsletter.subscribers.addresses import stored_suppression_text
    from newsletter.subscribers.suppression import hashes_of_text

    # Both forms of each hash (keyed, and unkeyed for rows not re-keyed yet), looked up
    # in one indexed query for the whole batch.
    key = address_key_of(session)
    emails = {email for _, _, email, _, _ in rows if email}
    hashes = {email: hashes_of_text(key, stored_suppression_text(email)) for email in emails}
    found = (
        set(
            session.scalars(
                select(Suppression.email_hash).where(
                    Suppression.email_hash.in_([h for pair in hashes.values() for h in pair])
                )
            )
        )
        if hashes
        else set()
    )
    suppressed = {email for email, pair in hashes.items() if not found.isdisjoint(pair)}
    return [
        ClaimedRow(
            delivery_id=delivery_id,
            subscriber_id=subscriber_id,
            email=email,
            deliverable=(
                email is not None and status is SubscriberStatus.ACTIVE and email not in suppressed
            ),
            link_key=link_key,
        )
        for delivery_id, subscriber_id, email, status, link_key in rows
    ]


_CAMPAIGNS: Table = Campaign.__table__  # type: ignore[assignment]
_DELIVERY: Table = Delivery.__table__  # type: ignore[assignment]
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
# PostgreSQL's claim in one statement, built once: the campaign's state, the rows picked
# under SKIP LOCKED, their move to `sending` and the join with their subscribers. The
# portable path above takes four round trips and two IN-lists of up to 250 ids, which
# SQLAlchemy renders anew for every chunk (docs/benchmarks.md, "Why"). No parameter is
# named after a column of `deliveries`: Core's UPDATE would SET that column from it too.
_PICKED = (
    select(_DELIVERY.c.id)
    .where(
        _DELIVERY.c.campaign_id == bindparam("of_campaign"),
        _DELIVERY.c.id.between(bindparam("first_id"), bindparam("last_id")),
        _DELIVERY.c.status == DeliveryStatus.QUEUED,
        _DELIVERY.c.id != all_(bindparam("exclude", type_=ARRAY(BigInteger))),
        select(_CAMPAIGNS.c.id)
        .where(
            _CAMPAIGNS.c.id == bindparam("of_campaign"),
            _CAMPAIGNS.c.status == CampaignStatus.SENDING,
        )
        .exists(),
    )
    .order_by(_DELIVERY.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
    .cte("picked")
)
_CLAIMED = (
    update(_DELIVERY)
    .where(_DELIVERY.c.id == _PICKED.c.id)
    .values(
        status=DeliveryStatus.SENDING,
        claimed_at=bindparam("now", type_=_DELIVERY.c.claimed_at.type),
        updated_at=bindparam("now", type_=_DELIVERY.c.updated_at.type),
    )
    .returning(_DELIVERY.c.id, _DELIVERY.c.subscriber_id)
    .cte("claimed")
)
_CLAIM_PG = (
    select(
        _CLAIMED.c.id,
        _CLAIMED.c.subscriber_id,
        _SUBSCRIBERS.c.email,
        _SUBSCRIBERS.c.status,
        _SUBSCRIBERS.c.link_key,
    )
    .select_from(_CLAIMED.outerjoin(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _CLAIMED.c.subscriber_id))
    .order_by(_CLAIMED.c.id)
)


def subscriber_categories_of(
    session: Session, subscriber_ids: Sequence[int]
) -> dict[int, frozenset[int]]:
    rows = session.execute(
        select(subscriber_categories.c.subscriber_id, subscriber_categories.c.category_id).where(
            subscriber_categories.c.subscriber_id.in_(subscriber_ids)
        )
    )
    found: dict[int, set[int]] = {}
    for subscriber_id, category_id in rows:
        found.setdefault(subscriber_id, set()).add(category_id)
    return {sid: frozenset(found.get(sid, ())) for sid in subscriber_ids}
