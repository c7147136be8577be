"""The subscription data functions on both databases: statuses, consent, resend window, erase."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.addresses import suppression_hash
from newsletter.categories import CategoryError, add_category
from newsletter.models import (
    Campaign,
    CampaignKind,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.subscriptions import (
    Consent,
    confirm_subscription,
    erase_address,
    export_subscriber,
    request_subscription,
    unsubscribe,
)

EMAIL = "binh@example.gov.vn"
CONSENT = Consent(ip="203.0.113.7", user_agent="UA", form_text_version="v1", via="form")
WINDOW = dt.timedelta(hours=6)
T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def request(session: Session, *, at: dt.datetime = T0, slugs: list[str] | None = None) -> bool:
    outcome = request_subscription(
        session,
        email=EMAIL,
        name="Bình",
        category_slugs=slugs or [],
        consent=CONSENT,
        resend_after=WINDOW,
        now=at,
    )
    return outcome.send_confirmation


def the_subscriber(session: Session) -> Subscriber:
    return session.scalars(select(Subscriber).where(Subscriber.email == EMAIL)).one()


def test_resend_window_per_address(session: Session) -> None:
    """A pending address is due a confirmation again only once the resend window has passed."""
    assert request(session) is True
    assert request(session, at=T0 + dt.timedelta(hours=5)) is False
    assert request(session, at=T0 + dt.timedelta(hours=6)) is True
    kinds = session.scalars(select(ConsentEvent.kind)).all()
    assert [k.value for k in kinds] == ["subscribe_requested"] * 3


def test_active_subscriber_is_left_untouched(session: Session) -> None:
    """A request for an active address changes neither its name, categories nor consent log."""
    add_category(session, slug="tin-tuc", name="Tin tức")
    request(session)
    row = the_subscriber(session)
    confirm_subscription(session, subscriber_id=row.id, consent=CONSENT)
    later = T0 + dt.timedelta(days=2)
    outcome = request_subscription(
        session, email=EMAIL, name="Kẻ lạ", category_slugs=["tin-tuc"], consent=CONSENT,
        resend_after=WINDOW, now=later,
    )  # fmt: skip
    assert outcome.send_confirmation is False
    assert row.name == "Bình"
    assert row.categories == []
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 2


def test_unknown_category_refused(session: Session) -> None:
    """An unknown category slug raises CategoryError and stores nothing."""
    with pytest.raises(CategoryError):
        request(session, slugs=["khong-co"])
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_unsubscribe_then_request_again(session: Session) -> None:
    """Unsubscribing is recorded once; a later request reopens the address as pending."""
    request(session)
    row = the_subscriber(session)
    confirm_subscription(session, subscriber_id=row.id, consent=CONSENT)
    assert unsubscribe(session, subscriber_id=row.id, consent=CONSENT) is True
    assert unsubscribe(session, subscriber_id=row.id, consent=CONSENT) is True
    assert row.status is SubscriberStatus.UNSUBSCRIBED
    # An old confirmation link must not undo the unsubscribe.
    assert confirm_subscription(session, subscriber_id=row.id, consent=CONSENT) is None
    assert request(session, at=T0 + dt.timedelta(days=1)) is True
    assert row.status is SubscriberStatus.PENDING
    kinds = [k.value for k in session.scalars(select(ConsentEvent.kind).order_by("id"))]
    assert kinds == ["subscribe_requested", "confirmed", "unsubscribed", "subscribe_requested"]


def test_bounced_or_suppressed_address_gets_nothing(session: Session) -> None:
    """A suppressed (bounced/complained) address is neither stored nor mailed."""
    session.add(Suppression(email_hash=suppression_hash(EMAIL), reason="bounced"))
    session.flush()
    assert request(session) is False
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_erase_leaves_only_the_hash_and_skips_queued_mail(session: Session) -> None:
    """Erase deletes the person and their consent log, skips queued deliveries, keeps the hash."""
    request(session)
    row = the_subscriber(session)
    confirm_subscription(session, subscriber_id=row.id, consent=CONSENT)
    campaign = Campaign(kind=CampaignKind.BULLETIN, subject="Bão số 5")
    session.add(campaign)
    session.flush()
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=row.id))
    session.flush()
    data = export_subscriber(session, subscriber_id=row.id)
    assert data is not None
    assert data["deliveries"][0]["campaign_subject"] == "Bão số 5"
    assert erase_address(session, email=" " + EMAIL + " ") is True
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
    delivery = session.scalars(select(Delivery)).one()
    assert delivery.subscriber_id is None
    assert delivery.status is DeliveryStatus.SKIPPED
    [suppression] = session.scalars(select(Suppression)).all()
    assert suppression.email_hash == suppression_hash(EMAIL)
    assert suppression.reason == "erased"


def test_erased_address_may_subscribe_again_and_confirm(session: Session) -> None:
    """After erase a new request is mailed; confirming lifts the erase suppression."""
    request(session)
    erase_address(session, email=EMAIL)
    assert request(session, at=T0 + dt.timedelta(minutes=1)) is True
    row = the_subscriber(session)
    confirm_subscription(session, subscriber_id=row.id, consent=CONSENT)
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0
