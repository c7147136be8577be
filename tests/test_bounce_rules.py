"""What bounces and complaints do to subscribers, deliveries and campaigns (both databases)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bounces.parse import parse_report
from newsletter.bounces.rules import apply_report, decayed_score
from newsletter.config import Settings
from newsletter.models import (
    Campaign,
    CampaignKind,
    ConsentEvent,
    ConsentKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers.suppression import is_suppressed
from tests.bounce_samples import sample

NOW = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def settings(settings_factory: type[Settings]) -> Settings:
    return settings_factory(bounce_domain="bounce.example.gov.vn")


def sent_delivery(session: Session, email: str) -> Delivery:
    subscriber = Subscriber(email=email, status=SubscriberStatus.ACTIVE)
    campaign = Campaign(kind=CampaignKind.DIGEST, subject="Bản tin tuần")
    session.add_all([subscriber, campaign])
    session.flush()
    delivery = Delivery(
        campaign_id=campaign.id, subscriber_id=subscriber.id, status=DeliveryStatus.SENT
    )
    session.add(delivery)
    session.flush()
    return delivery


def test_hard_bounce_suppresses_and_counts(session: Session, settings: Settings) -> None:
    """A hard bounce marks the subscriber bounced, suppresses the address, counts once."""
    delivery = sent_delivery(session, "khong.ton.tai@gmail.com")
    raw = sample("gmail_hard", settings, delivery_id=delivery.id)
    for _ in range(2):  # the same bounce processed twice counts once
        outcome = apply_report(
            session, report=parse_report(raw, settings), settings=settings, now=NOW
        )
    assert outcome.action == "suppressed"
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.BOUNCED
    assert is_suppressed(session, "khong.ton.tai@gmail.com")
    assert delivery.status is DeliveryStatus.BOUNCED
    assert "5.1.1" in (delivery.last_error or "")
    campaign = session.get(Campaign, delivery.campaign_id)
    assert campaign is not None
    assert campaign.bounced_count == 1


def test_soft_bounces_suppress_only_past_threshold(session: Session, settings: Settings) -> None:
    """Soft bounces add to a score that decays; three close together suppress, old ones fade."""
    delivery = sent_delivery(session, "day.hop.thu@congty.example")
    raw = sample("postfix_delayed", settings, delivery_id=delivery.id)
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    first = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert first.action == "scored"
    # Eight weeks later the score has decayed almost to nothing.
    later = NOW + dt.timedelta(weeks=8)
    apply_report(session, report=parse_report(raw, settings), settings=settings, now=later)
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert subscriber.bounce_score < 1.1
    again = apply_report(session, report=parse_report(raw, settings), settings=settings, now=later)
    assert again.action == "scored"
    outcome = apply_report(
        session, report=parse_report(raw, settings), settings=settings, now=later
    )
    assert outcome.action == "suppressed"
    assert subscriber.status is SubscriberStatus.BOUNCED
    assert is_suppressed(session, "day.hop.thu@congty.example")


def test_policy_refusal_condemns_nothing(session: Session, settings: Settings) -> None:
    """A 5.7.x spam/policy refusal fails the delivery with its reason; the address stays
    active and unscored."""
    delivery = sent_delivery(session, "phong.vien@baochi.example")
    raw = sample("policy_571", settings, delivery_id=delivery.id)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "noted"
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert not is_suppressed(session, "phong.vien@baochi.example")
    assert "5.7.1" in (delivery.last_error or "")
    assert delivery.status is DeliveryStatus.FAILED
    assert subscriber.bounce_score == 0.0


@pytest.mark.parametrize("name", ["policy_blacklisted", "relay_denied", "rate_limited",
                                  "mailbox_full_522", "autoreply_vi", "ses_delivery"])  # fmt: skip
def test_nothing_here_suppresses_the_resident(
    session: Session, settings: Settings, name: str
) -> None:
    """A blocklisted IP, a relay refusal, a rate limit, a full mailbox, an auto-reply and an
    SES Delivery notice never suppress the resident."""
    delivery = sent_delivery(session, "redacted@hopthu.example")
    raw = sample(name, settings, delivery_id=delivery.id)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action in ("noted", "scored", "ignored")
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert not is_suppressed(session, "redacted@hopthu.example")


@pytest.mark.parametrize("name", ["ses_bounce_permanent", "office365_ndr", "dragonfly_hard"])
def test_provider_hard_bounces_suppress(session: Session, settings: Settings, name: str) -> None:
    """An SES Permanent bounce (linked by the VERP address in mail.source), an Office 365
    NDR and a DragonFly bounce for a missing mailbox suppress the resident."""
    delivery = sent_delivery(session, "redacted@hopthu.example")
    raw = sample(name, settings, delivery_id=delivery.id)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "suppressed"
    assert is_suppressed(session, "redacted@hopthu.example")


@pytest.mark.parametrize("name", ["arf_no_rcpt", "outlook_complaint", "ses_complaint"])
def test_complaints_without_original_rcpt_to(
    session: Session, settings: Settings, name: str
) -> None:
    """An ARF report without Original-Rcpt-To, Outlook's report and an SES Complaint
    unsubscribe the resident of the delivery they name."""
    delivery = sent_delivery(session, "redacted@hopthu.example")
    raw = sample(name, settings, delivery_id=delivery.id)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "complaint"
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.COMPLAINED


def test_complaint_unsubscribes_with_consent_event(session: Session, settings: Settings) -> None:
    """A spam complaint unsubscribes, suppresses and is recorded as a consent event."""
    delivery = sent_delivery(session, "nguoi.dan@hopthu.example")
    assert delivery.subscriber_id is not None
    raw = sample(
        "arf_complaint", settings, delivery_id=delivery.id, subscriber_id=delivery.subscriber_id
    )
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "complaint"
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.COMPLAINED
    assert subscriber.unsubscribed_at == NOW
    assert is_suppressed(session, "nguoi.dan@hopthu.example")
    events = session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id)
    ).all()
    assert [e.kind for e in events] == [ConsentKind.COMPLAINED]
    campaign = session.get(Campaign, delivery.campaign_id)
    assert campaign is not None
    assert campaign.complaint_count == 1


def test_forged_verp_changes_nothing(session: Session, settings: Settings) -> None:
    """A bounce to an altered VERP address is ignored: nobody is suppressed."""
    delivery = sent_delivery(session, "khong.ton.tai@gmail.com")
    forger = settings.model_copy(update={"secret_key": "forger-secret-key-that-is-long-enough!!"})
    raw = sample("gmail_hard", forger, delivery_id=delivery.id)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "ignored"
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert not is_suppressed(session, "khong.ton.tai@gmail.com")
    assert delivery.status is DeliveryStatus.SENT


def test_unsigned_bounce_is_ignored_when_verp_is_on(session: Session, settings: Settings) -> None:
    """With BOUNCE_DOMAIN set, a bounce naming an address but no signed delivery is ignored."""
    sent_delivery(session, "khong.ton.tai@gmail.com")
    raw = sample("gmail_hard", settings, verp="postmaster@example.gov.vn")
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "ignored"
    assert not is_suppressed(session, "khong.ton.tai@gmail.com")


def test_without_verp_the_named_address_is_used(
    session: Session, settings_factory: type[Settings]
) -> None:
    """Without BOUNCE_DOMAIN, a bounce is matched by the one address it names."""
    settings = settings_factory()
    sent_delivery(session, "het.han@yahoo.com")
    raw = sample("yahoo_hard", settings, verp="bantin@example.gov.vn")
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "suppressed"
    assert is_suppressed(session, "het.han@yahoo.com")


def test_score_halves_every_half_life() -> None:
    """The soft-bounce score halves every BOUNCE_HALF_LIFE_DAYS."""
    assert decayed_score(4.0, NOW - dt.timedelta(days=14), NOW, 14.0) == pytest.approx(2.0)
    assert decayed_score(4.0, None, NOW, 14.0) == 4.0


def test_mail_to_the_unsubscribe_address_unsubscribes(session: Session, settings: Settings) -> None:
    """A mail to the List-Unsubscribe mailto address unsubscribes its subscriber with a
    consent event; one whose token was not signed by us, or carries another key (an
    erased subscriber's old address), changes nothing."""
    delivery = sent_delivery(session, "nguoi.dan@hopthu.example")
    assert delivery.subscriber_id is not None
    forger = settings.model_copy(update={"secret_key": "forger-secret-key-that-is-long-enough!!"})
    subscriber = session.get(Subscriber, delivery.subscriber_id)
    assert subscriber is not None
    key = subscriber.link_key
    forged = sample("unsubscribe_mailto", forger, subscriber_id=subscriber.id, link_key=key)
    stale = sample("unsubscribe_mailto", settings, subscriber_id=subscriber.id, link_key="k" * 32)
    for raw in (forged, stale):
        outcome = apply_report(
            session, report=parse_report(raw, settings), settings=settings, now=NOW
        )
        assert outcome.action == "ignored"
        assert subscriber.status is SubscriberStatus.ACTIVE
    raw = sample("unsubscribe_mailto", settings, subscriber_id=subscriber.id, link_key=key)
    outcome = apply_report(session, report=parse_report(raw, settings), settings=settings, now=NOW)
    assert outcome.action == "unsubscribed"
    assert subscriber.status is SubscriberStatus.UNSUBSCRIBED
    events = session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id)
    ).all()
    assert [e.kind for e in events] == [ConsentKind.UNSUBSCRIBED]
