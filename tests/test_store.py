"""The store on both backends: constraints, timezone-aware times, categories."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.content.categories import (
    CategoryError,
    add_category,
    categories_by_slug,
    list_categories,
)
from newsletter.models import (
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)


def test_subscriber_email_is_unique(session: Session) -> None:
    """Two subscribers can never share one normalized address."""
    session.add(Subscriber(email="an@example.vn"))
    session.flush()
    session.add(Subscriber(email="an@example.vn"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_times_come_back_timezone_aware(session: Session) -> None:
    """A stored datetime is read back as the same UTC instant, with its zone."""
    when = dt.datetime(2026, 11, 28, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    sub = Subscriber(email="b@example.vn", confirmed_at=when)
    session.add(sub)
    session.flush()
    session.expire_all()
    loaded = session.scalars(select(Subscriber).where(Subscriber.email == "b@example.vn")).one()
    assert loaded.confirmed_at == when
    assert loaded.confirmed_at is not None
    assert loaded.confirmed_at.utcoffset() == dt.timedelta(0)
    assert loaded.status is SubscriberStatus.PENDING
    assert loaded.created_at.tzinfo is not None


def test_naive_datetime_is_refused(session: Session) -> None:
    """A naive datetime would be ambiguous; storing one is an error, not a guess."""
    session.add(Subscriber(email="c@example.vn", confirmed_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_one_delivery_per_campaign_and_subscriber(session: Session) -> None:
    """The ledger refuses a second row for the same (campaign, subscriber)."""
    sub = Subscriber(email="d@example.vn", status=SubscriberStatus.ACTIVE)
    campaign = Campaign(kind=CampaignKind.BULLETIN, subject="Thông báo")
    session.add_all([sub, campaign])
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=sub.id))
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=sub.id))
    with pytest.raises(IntegrityError):
        session.flush()


def test_digest_is_unique_per_period(session: Session) -> None:
    """Two digests for the same period cannot both exist."""
    session.add(Campaign(kind=CampaignKind.DIGEST, period="2026-W48", subject="a"))
    session.flush()
    session.add(Campaign(kind=CampaignKind.DIGEST, period="2026-W48", subject="b"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_bulletins_need_no_period(session: Session) -> None:
    """Bulletins have no period, and any number of them may exist."""
    session.add_all(
        [Campaign(kind=CampaignKind.BULLETIN, subject=f"Bản tin {i}") for i in range(3)]
    )
    session.flush()
    count = len(session.scalars(select(Campaign)).all())
    assert count == 3


def test_enum_columns_store_values(session: Session) -> None:
    """Statuses are stored as their lowercase values, readable by SQL and by people."""
    sub = Subscriber(email="e@example.vn", status=SubscriberStatus.ACTIVE)
    campaign = Campaign(kind=CampaignKind.BULLETIN, subject="x")
    session.add_all([sub, campaign])
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=sub.id))
    session.flush()
    raw = session.execute(select(Delivery.status).select_from(Delivery)).scalar_one()
    assert raw is DeliveryStatus.QUEUED
    from sqlalchemy import text

    assert session.execute(text("SELECT status FROM subscribers")).scalar_one() == "active"


def test_categories_add_list_and_lookup(session: Session) -> None:
    """Categories keep their order; unknown slugs and duplicates are refused clearly."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    add_category(session, slug="thong-bao", name="Thông báo")
    assert [c.slug for c in list_categories(session)] == ["tin-tuc", "thong-bao"]
    assert [c.name for c in categories_by_slug(session, ["thong-bao"])] == ["Thông báo"]
    with pytest.raises(CategoryError, match="already exists"):
        add_category(session, slug="tin-tuc", name="Khác")
    with pytest.raises(CategoryError, match="invalid slug"):
        add_category(session, slug="Tin Tức", name="x")
    with pytest.raises(CategoryError, match="unknown categories: khong-co"):
        categories_by_slug(session, ["tin-tuc", "khong-co"])
