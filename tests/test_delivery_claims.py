"""A claim, on both backends: PostgreSQL's one statement and SQLite's four must agree.

`delivery/claims.py` claims a chunk on PostgreSQL in one statement (the campaign's state,
SKIP LOCKED, the move to `sending`, the join with subscribers) and elsewhere in four.
These tests hold both to the same answers, and PostgreSQL's to skipping rows another
open claim holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, update

from newsletter.campaigns.audience import start_campaign
from newsletter.config import Settings
from newsletter.delivery.claims import claim
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsletter.runtime import Runtime, build_runtime
from tests.support.ledger import add_campaign, add_subscribers, ledger


@pytest.fixture
def runtime(database_url: str, settings_factory: Callable[..., Settings]) -> Iterator[Runtime]:
    rt = build_runtime(settings_factory(database_url=database_url))
    yield rt
    rt.close()


def started_campaign(runtime: Runtime, subscribers: int) -> tuple[int, list[int]]:
    """A sending campaign to `subscribers` new residents: (campaign id, its row ids)."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, subscribers)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        start_campaign(s, campaign_id=campaign_id)
        ids = list(
            s.scalars(
                select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
            )
        )
    return campaign_id, ids


def test_a_claim_takes_the_first_queued_rows_of_its_range_in_order(runtime: Runtime) -> None:
    campaign_id, ids = started_campaign(runtime, 6)
    now = utcnow().replace(microsecond=0) - dt.timedelta(minutes=3)
    with runtime.sessions.begin() as s:
        rows = claim(s, campaign_id=campaign_id, first_id=ids[1], last_id=ids[4], limit=2, now=now)
    assert [r.delivery_id for r in rows] == ids[1:3]
    assert all(r.deliverable and r.email and r.link_key for r in rows)
    with runtime.sessions.begin() as s:
        held = s.execute(
            select(Delivery.id, Delivery.claimed_at, Delivery.updated_at).where(
                Delivery.status == DeliveryStatus.SENDING
            )
        ).all()
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 4, DeliveryStatus.SENDING: 2}
    assert sorted(held) == [(i, now, now) for i in ids[1:3]]


def test_rows_already_tried_are_left_for_a_retry(runtime: Runtime) -> None:
    campaign_id, ids = started_campaign(runtime, 4)
    with runtime.sessions.begin() as s:
        rows = claim(
            s, campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], limit=10,
            exclude={ids[0], ids[2]},
        )  # fmt: skip
    assert [r.delivery_id for r in rows] == [ids[1], ids[3]]


def test_a_campaign_that_is_not_sending_gives_nothing_and_changes_nothing(
    runtime: Runtime,
) -> None:
    campaign_id, ids = started_campaign(runtime, 3)
    with runtime.sessions.begin() as s:
        s.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status=CampaignStatus.PAUSED)
        )
    with runtime.sessions.begin() as s:
        assert claim(s, campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], limit=10) == []
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 3}


def test_an_erased_or_unsubscribed_reader_is_claimed_as_undeliverable(runtime: Runtime) -> None:
    campaign_id, ids = started_campaign(runtime, 3)
    with runtime.sessions.begin() as s:
        first, second = s.scalars(
            select(Delivery.subscriber_id).where(Delivery.id.in_(ids[:2])).order_by(Delivery.id)
        )
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(subscriber_id=None))
        s.execute(
            update(Subscriber)
            .where(Subscriber.id == second)
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    with runtime.sessions.begin() as s:
        rows = claim(s, campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], limit=10)
    assert [(r.delivery_id, r.subscriber_id, r.email is None, r.deliverable) for r in rows] == [
        (ids[0], None, True, False),
        (ids[1], second, False, False),
        (ids[2], rows[2].subscriber_id, False, True),
    ]
    assert first is not None


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.services)])
def test_two_open_claims_on_postgresql_never_share_a_row(runtime: Runtime) -> None:
    """FOR UPDATE SKIP LOCKED: a second batch over the same range takes the next rows
    instead of waiting for (or doubling) the first one's. (SQLite serialises writers with
    BEGIN IMMEDIATE: no two claims are ever open there.)"""
    campaign_id, ids = started_campaign(runtime, 5)
    with runtime.sessions.begin() as first:
        mine = claim(first, campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], limit=3)
        with runtime.sessions.begin() as second:
            theirs = claim(
                second, campaign_id=campaign_id, first_id=ids[0], last_id=ids[-1], limit=3
            )
    assert [r.delivery_id for r in mine] == ids[:3]
    assert [r.delivery_id for r in theirs] == ids[3:]
