"""What a bounce or complaint does to the store.

A hard bounce condemns the address; soft bounces add to a score that halves every
BOUNCE_HALF_LIFE_DAYS and condemns past BOUNCE_SOFT_THRESHOLD; a complaint unsubscribes
and is recorded as a consent event; a policy refusal (the sender's IP, reputation or
content) fails the delivery with its reason and touches no subscriber; a mail to the
List-Unsubscribe mailto address unsubscribes; an auto-reply changes nothing.
docs/bounces.md says why.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.bounces.classify import BounceKind
from newsletter.bounces.report import BounceReport, RecipientFailure
from newsletter.config import Settings
from newsletter.models import (
    Campaign,
    ConsentEvent,
    ConsentKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers.lifecycle import Consent
from newsletter.subscribers.preferences import subscriber_for_link, unsubscribe
from newsletter.subscribers.suppression import suppress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BounceOutcome:
    action: str  # suppressed | scored | noted | complaint | unsubscribed | ignored
    subscriber_id: int | None = None
    delivery_id: int | None = None
    reason: str = ""


def decayed_score(
    score: float, since: dt.datetime | None, now: dt.datetime, half_life_days: float
) -> float:
    if since is None or score <= 0:
        return max(score, 0.0)
    days = max((now - since).total_seconds() / 86400, 0.0)
    factor: float = 0.5 ** (days / half_life_days)
    return score * factor


def _target(
    session: Session, report: BounceReport, settings: Settings
) -> tuple[Subscriber | None, Delivery | None]:
    if report.forged_verp:
        return None, None
    if report.delivery_id is not None and report.delivery_id < 0:
        # A confirmation mail's VERP token names minus its subscriber (mail/links.py).
        return session.get(Subscriber, -report.delivery_id), None
    if report.delivery_id is not None:
        delivery = session.get(Delivery, report.delivery_id)
        if delivery is None or delivery.subscriber_id is None:
            return None, delivery
        return session.get(Subscriber, delivery.subscriber_id), delivery
    if report.subscriber_id is not None:
        return session.get(Subscriber, report.subscriber_id), None
    if settings.bounce_domain:
        # VERP is on: a bounce that names no signed delivery could be forged by anyone.
        return None, None
    addresses = {f.address for f in report.failures if f.address}
    if len(addresses) != 1:
        return None, None
    address = addresses.pop()
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.email.in_([address, _lower_domain(address)]))
    ).first()
    return subscriber, None


def _lower_domain(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _condemn(session: Session, subscriber: Subscriber, *, reason: str, now: dt.datetime) -> None:
    if subscriber.status not in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED):
        subscriber.status = SubscriberStatus.BOUNCED
    subscriber.updated_at = now
    suppress(session, email=subscriber.email, reason=reason)


def apply_report(
    session: Session, *, report: BounceReport, settings: Settings, now: dt.datetime | None = None
) -> BounceOutcome:
    """Apply what `report` says to the subscriber and the delivery it names."""
    now = now or dt.datetime.now(dt.UTC)
    kind = report.kind
    if report.auto_reply:
        return BounceOutcome("ignored", reason="automatic reply (out of office)")
    if report.unsubscribe_request is not None:
        return _unsubscribe_request(session, report.unsubscribe_request, now)
    if kind is None:
        return BounceOutcome("ignored", reason="no failure found in the message")
    subscriber, delivery = _target(session, report, settings)
    failure = next(f for f in report.failures if f.kind is kind)
    delivery_id = delivery.id if delivery else None
    if kind is BounceKind.POLICY:
        return _policy(session, delivery, failure, now)
    if subscriber is None:
        reason = "forged VERP address" if report.forged_verp else "no matching subscriber"
        return BounceOutcome("ignored", delivery_id=delivery_id, reason=reason)
    if kind is BounceKind.COMPLAINT:
        return _complaint(session, subscriber, delivery, failure, now)
    error = failure.diagnostic or failure.status or kind.value
    if delivery is not None:
        delivery.last_error = f"{kind.value} bounce: {error}"[:2000]
        delivery.updated_at = now
    if kind is BounceKind.HARD:
        if delivery is not None and delivery.status is not DeliveryStatus.BOUNCED:
            delivery.status = DeliveryStatus.BOUNCED
            _bump(session, delivery.campaign_id, "bounced_count")
        _condemn(session, subscriber, reason="hard_bounce", now=now)
        return BounceOutcome("suppressed", subscriber.id, delivery_id, "hard bounce")
    return _soft(session, subscriber, delivery_id, settings, now)


def _unsubscribe_request(
    session: Session, request: tuple[int, str], now: dt.datetime
) -> BounceOutcome:
    """A mail to the List-Unsubscribe mailto address: the resident asked to stop, by mail.

    Like the https link, it acts only while its key is the subscriber's: an erased
    subscriber's old address names no one, whoever holds the id since."""
    subscriber_id, link_key = request
    if subscriber_for_link(session, subscriber_id=subscriber_id, link_key=link_key) is None:
        return BounceOutcome("ignored", reason="unsubscribe request for an erased subscriber")
    if not unsubscribe(
        session,
        subscriber_id=subscriber_id,
        consent=Consent(via="list-unsubscribe-mailto"),
        now=now,
    ):
        return BounceOutcome("ignored", reason="unsubscribe request for an erased subscriber")
    return BounceOutcome("unsubscribed", subscriber_id, None, "unsubscribe request by mail")


def _policy(
    session: Session, delivery: Delivery | None, failure: RecipientFailure, now: dt.datetime
) -> BounceOutcome:
    """The receiving server refused the sender, not the resident: the delivery failed, and
    nothing is held against the address (a blocklisted IP would otherwise condemn everyone)."""
    reason = failure.diagnostic or failure.status or "refused by policy"
    if delivery is None:
        return BounceOutcome("ignored", reason=f"policy refusal for no known delivery: {reason}")
    delivery.last_error = f"policy refusal: {reason}"[:2000]
    delivery.updated_at = now
    if delivery.status is DeliveryStatus.SENT:
        delivery.status = DeliveryStatus.FAILED
        _bump(session, delivery.campaign_id, "failed_count")
    return BounceOutcome("noted", None, delivery.id, "policy refusal: the address is not at fault")


def _soft(
    session: Session,
    subscriber: Subscriber,
    delivery_id: int | None,
    settings: Settings,
    now: dt.datetime,
) -> BounceOutcome:
    score = decayed_score(
        subscriber.bounce_score, subscriber.bounce_score_at, now, settings.bounce_half_life_days
    )
    subscriber.bounce_score = score + 1.0
    subscriber.bounce_score_at = now
    if subscriber.bounce_score >= settings.bounce_soft_threshold:
        _condemn(session, subscriber, reason="soft_bounce_threshold", now=now)
        return BounceOutcome(
            "suppressed", subscriber.id, delivery_id, "soft bounces past threshold"
        )
    return BounceOutcome(
        "scored", subscriber.id, delivery_id, f"score {subscriber.bounce_score:.2f}"
    )


def _complaint(
    session: Session,
    subscriber: Subscriber,
    delivery: Delivery | None,
    failure: RecipientFailure,
    now: dt.datetime,
) -> BounceOutcome:
    first_time = subscriber.status is not SubscriberStatus.COMPLAINED
    if first_time:
        subscriber.status = SubscriberStatus.COMPLAINED
        subscriber.unsubscribed_at = now
        session.add(
            ConsentEvent(
                subscriber_id=subscriber.id,
                kind=ConsentKind.COMPLAINED,
                occurred_at=now,
                detail=f"spam complaint (feedback type: {failure.diagnostic or 'abuse'})",
            )
        )
        if delivery is not None:
            _bump(session, delivery.campaign_id, "complaint_count")
    suppress(session, email=subscriber.email, reason="complaint")
    return BounceOutcome(
        "complaint",
        subscriber.id,
        delivery.id if delivery else None,
        "unsubscribed after complaint",
    )


def _bump(session: Session, campaign_id: int, counter: str) -> None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None:
        setattr(campaign, counter, getattr(campaign, counter) + 1)


def record_smtp_rejection(
    session: Session,
    *,
    delivery: Delivery,
    kind: BounceKind,
    reply: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> BounceOutcome:
    """A permanent refusal at SMTP time, applied by the same rules as a bounce message."""
    report = BounceReport(
        failures=[RecipientFailure("", kind, None, reply)], delivery_id=delivery.id
    )
    return apply_report(session, report=report, settings=settings, now=now)
