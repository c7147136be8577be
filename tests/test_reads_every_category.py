"""subscribers.reads_every_category stays "has no category rows" on every write path.

The flag is what a campaign's start reads to find the residents who chose no category
(eligibility.eligible_subscribers); triggers on subscriber_categories keep it (migration
0007). Were it wrong, a resident would miss the bulletins meant for everyone, or get
categories they never chose. Every test runs on both databases.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, exists, insert, select, text
from sqlalchemy.orm import Session

from newsletter.campaigns.audience import count_eligible, start_campaign
from newsletter.content.categories import add_category
from newsletter.models import Category, Delivery, Subscriber, SubscriberStatus
from newsletter.models import subscriber_categories as links
from newsletter.ops.dashboard import subscriber_overview
from newsletter.subscribers.lifecycle import Consent, confirm_subscription, request_subscription
from newsletter.subscribers.preferences import update_preferences
from newsletter.subscribers.roster import import_subscribers
from tests.support.ledger import add_campaign, add_subscribers

CONSENT = Consent(ip="203.0.113.7", user_agent="UA", form_text_version="v1", via="form")
T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def flags(session: Session) -> dict[str, bool]:
    """email → reads_every_category, read from the database (not the ORM's copy)."""
    session.flush()
    session.expire_all()
    rows = session.execute(select(Subscriber.email, Subscriber.reads_every_category))
    return {email: bool(flag) for email, flag in rows}


def assert_flag_is_no_rows(session: Session) -> None:
    """The invariant itself, over every subscriber."""
    session.flush()
    has_rows = exists().where(links.c.subscriber_id == Subscriber.id)
    wrong = session.scalars(
        select(Subscriber.email).where(Subscriber.reads_every_category == has_rows)
    ).all()
    assert wrong == []


def subscribe(session: Session, email: str, slugs: list[str], now: dt.datetime = T0) -> int:
    outcome = request_subscription(
        session,
        email=email,
        name=None,
        category_slugs=slugs,
        consent=CONSENT,
        resend_after=dt.timedelta(hours=6),
        now=now,
    )
    assert outcome.subscriber_id is not None
    return outcome.subscriber_id


def confirm(session: Session, subscriber_id: int) -> None:
    key = session.scalar(select(Subscriber.confirm_key).where(Subscriber.id == subscriber_id))
    assert key is not None
    assert confirm_subscription(
        session, subscriber_id=subscriber_id, confirm_key=key, consent=CONSENT
    )


def test_the_subscribe_form_and_preferences_keep_the_flag(session: Session) -> None:
    """New address with categories (one statement on PostgreSQL), without, a second
    request choosing others, preferences emptied and chosen again."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    add_category(session, slug="khan-cap", name="Khẩn cấp")
    picky = subscribe(session, "chon@example.vn", ["tin-tuc", "khan-cap"])
    subscribe(session, "tatca@example.vn", [])
    assert flags(session) == {"chon@example.vn": False, "tatca@example.vn": True}

    # A pending address asking again with other categories takes the known-address path;
    # the categories it asks for apply once that request is confirmed.
    later = subscribe(session, "tatca@example.vn", ["khan-cap"], now=T0 + dt.timedelta(hours=7))
    assert flags(session)["tatca@example.vn"] is True
    confirm(session, later)
    assert flags(session)["tatca@example.vn"] is False

    confirm(session, picky)
    update_preferences(
        session, subscriber_id=picky, name=None, category_slugs=[], consent=CONSENT, now=T0
    )
    assert flags(session)["chon@example.vn"] is True
    update_preferences(
        session, subscriber_id=picky, name=None, category_slugs=["tin-tuc"], consent=CONSENT
    )
    update_preferences(session, subscriber_id=later, name=None, category_slugs=[], consent=CONSENT)
    assert flags(session) == {"chon@example.vn": False, "tatca@example.vn": True}
    assert_flag_is_no_rows(session)


def test_an_import_keeps_the_flag(session: Session) -> None:
    """An import without a consent source (pending, through the subscribe path), then the
    same addresses imported with one (made active, categories replaced)."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    rows = [
        {"email": "mot@example.vn", "categories": "tin-tuc"},
        {"email": "hai@example.vn", "categories": ""},
    ]
    six_hours = dt.timedelta(hours=6)
    result = import_subscribers(session, rows=rows, consent_source=None, resend_after=six_hours)
    assert result.created == 2
    assert flags(session) == {"mot@example.vn": False, "hai@example.vn": True}
    swapped = [
        {"email": "mot@example.vn", "categories": ""},
        {"email": "hai@example.vn", "categories": "tin-tuc"},
    ]
    result = import_subscribers(
        session, rows=swapped, consent_source="phiếu giấy 2026", resend_after=six_hours
    )
    assert result.updated == 2
    assert flags(session) == {"mot@example.vn": True, "hai@example.vn": False}
    assert_flag_is_no_rows(session)


def test_bulk_sql_and_a_category_deleted_by_hand_keep_the_flag(session: Session) -> None:
    """Many rows in one statement, some of them removed, and a category deleted with SQL
    (its rows cascade away): a resident left with no category reads everything again."""
    water = add_category(session, slug="nuoc", name="Cấp nước").id
    power = add_category(session, slug="dien", name="Điện").id
    only_water = add_subscribers(session, 3, prefix="nuoc", categories=[water])
    add_subscribers(session, 2, prefix="hai", categories=[water, power])
    add_subscribers(session, 2, prefix="tatca")
    assert_flag_is_no_rows(session)
    assert sum(flags(session).values()) == 2

    session.execute(delete(links).where(links.c.subscriber_id.in_(only_water[:2])))
    assert sum(flags(session).values()) == 4
    session.execute(insert(links), [{"subscriber_id": only_water[0], "category_id": power}])
    assert sum(flags(session).values()) == 3

    session.execute(text("DELETE FROM categories WHERE slug = 'nuoc'"))
    session.expire_all()
    assert session.get(Category, water) is None
    reads_all = {email for email, flag in flags(session).items() if flag}
    # nuoc00000 now reads power only; nuoc00002 had water alone; the pair keep power.
    assert reads_all == {
        "nuoc00001@example.vn",
        "nuoc00002@example.vn",
        "tatca00000@example.vn",
        "tatca00001@example.vn",
    }
    assert not any(
        flags(session)[email] for email in ("hai00000@example.vn", "hai00001@example.vn")
    )
    assert_flag_is_no_rows(session)


def test_a_campaign_reaches_exactly_the_readers_and_those_with_no_category(
    session: Session,
) -> None:
    """The eligibility query built on the flag: category readers plus no-category
    subscribers, active only, each once, and not the readers of other categories."""
    water = add_category(session, slug="nuoc", name="Cấp nước").id
    power = add_category(session, slug="dien", name="Điện").id
    readers = add_subscribers(session, 3, prefix="nuoc", categories=[water, power])
    add_subscribers(session, 2, prefix="dien", categories=[power])
    everyone = add_subscribers(session, 2, prefix="tatca")
    add_subscribers(session, 2, prefix="cho", status=SubscriberStatus.PENDING)
    # A reader whose only category row was removed a moment ago reads everything now.
    gone = add_subscribers(session, 1, prefix="bo", categories=[power])
    session.execute(delete(links).where(links.c.subscriber_id == gone[0]))
    campaign_id = add_campaign(session, categories=[water])

    assert count_eligible(session, campaign_id=campaign_id) == 6
    start_campaign(session, campaign_id=campaign_id)
    queued = session.scalars(
        select(Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign_id)
        .order_by(Delivery.subscriber_id)
    ).all()
    assert queued == sorted(readers + everyone + gone)


def test_the_dashboard_counts_who_reads_every_category_exactly(session: Session) -> None:
    """Active and pending subscribers without a category, and no one else: an unsubscribed
    resident who had chosen a category no longer lowers the count."""
    news = add_category(session, slug="tin-tuc", name="Tin tức").id
    add_subscribers(session, 2, prefix="tatca")
    add_subscribers(session, 1, prefix="cho", status=SubscriberStatus.PENDING)
    add_subscribers(session, 1, prefix="huy", status=SubscriberStatus.UNSUBSCRIBED)
    add_subscribers(
        session, 1, prefix="huychon", status=SubscriberStatus.UNSUBSCRIBED, categories=[news]
    )
    add_subscribers(session, 1, prefix="chon", categories=[news])
    overview = subscriber_overview(session, now=T0)
    assert overview.all_categories == 3
    assert {c.slug: c.subscribers for c in overview.by_category} == {"tin-tuc": 2}
