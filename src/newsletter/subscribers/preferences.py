"""After a subscription: preferences, unsubscribe, resubscribe, export and erase.

Every function takes a `session` and keyword-only arguments; the caller owns the
transaction. Consent changes are recorded as consent events (lifecycle.record_consent).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.content.categories import categories_by_slug
from newsletter.models import (
    Campaign,
    ConsentEvent,
    ConsentKind,
    Delivery,
    DeliveryStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from newsletter.subscribers.addresses import normalize_lenient
from newsletter.subscribers.areas import areas_by_code, choose_areas
from newsletter.subscribers.change_address import former_addresses
from newsletter.subscribers.erasure import scrub_address
from newsletter.subscribers.lifecycle import SUPPRESSION_ERASED, Consent, record_consent
from newsletter.subscribers.suppression import suppress


def subscriber_for_link(
    session: Session, *, subscriber_id: int, link_key: str
) -> Subscriber | None:
    """The subscriber a resident's unsubscribe or preferences link names, or None.

    The link's key must be the row's `link_key`: an erased subscriber's link names no
    one, whoever holds its id or its address since.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or not hmac.compare_digest(subscriber.link_key, link_key):
        return None
    return subscriber


def unsubscribe(
    session: Session, *, subscriber_id: int, consent: Consent, now: dt.datetime | None = None
) -> bool:
    """Stop all mail to the subscriber. Repeating is harmless; False when it is gone."""
    now = now or utcnow()
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        return False
    if subscriber.status is not SubscriberStatus.UNSUBSCRIBED:
        previous = subscriber.status.value
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = now
        subscriber.updated_at = now
        # A confirmation link mailed earlier must not undo this choice.
        subscriber.confirm_key = None
        subscriber.pending_request = None
        record_consent(
            session,
            subscriber,
            ConsentKind.UNSUBSCRIBED,
            consent,
            now=now,
            extra={"previous_status": previous},
        )
        session.flush()
    return True


def resubscribe(
    session: Session, *, subscriber_id: int, consent: Consent, now: dt.datetime | None = None
) -> bool:
    """Reactivate an unsubscribed subscriber from their own preferences link.

    The link was mailed to the address, so following it proves the mailbox as a
    confirmation would. Bounced and complained subscribers stay as they are.
    """
    now = now or utcnow()
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None or subscriber.status is not SubscriberStatus.UNSUBSCRIBED:
        return False
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.updated_at = now
    record_consent(session, subscriber, ConsentKind.CONFIRMED, consent, now=now)
    session.flush()
    return True


def update_preferences(
    session: Session,
    *,
    subscriber_id: int,
    name: str | None,
    category_slugs: list[str],
    consent: Consent,
    frequency: Frequency | None = None,
    now: dt.datetime | None = None,
    area_codes: Collection[str] | None = None,
) -> Subscriber | None:
    """Change the name, the chosen categories (no slugs = every category) and, when
    given, the frequency.

    `area_codes`: the chosen areas (none: every area); None leaves them as they are.
    AreaError names unknown codes; nothing changes then.
    """
    now = now or utcnow()
    # Locked first, as every change of a subscriber's categories is: two saves at once
    # (two tabs) are serialized, which the reads_every_category triggers rely on.
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        return None
    categories = categories_by_slug(session, category_slugs)
    extra: dict[str, Any] = {"categories": [c.slug for c in categories]}
    if area_codes is not None:
        extra["areas"] = [a.code for a in areas_by_code(session, area_codes)]
        choose_areas(session, subscriber, extra["areas"])
    subscriber.name = name or None
    subscriber.categories = categories
    if frequency is not None:
        extra["frequency"] = frequency.value
        if subscriber.frequency is not frequency:
            extra["previous_frequency"] = subscriber.frequency.value
        subscriber.frequency = frequency
    subscriber.updated_at = now
    record_consent(
        session, subscriber, ConsentKind.PREFERENCES_CHANGED, consent, now=now, extra=extra
    )
    session.flush()
    return subscriber


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_subscriber(session: Session, *, subscriber_id: int) -> dict[str, Any] | None:
    """Everything stored about one subscriber, as JSON-ready data (None when gone)."""
    s = session.get(Subscriber, subscriber_id)
    if s is None:
        return None
    deliveries = session.execute(
        select(Delivery, Campaign.kind, Campaign.subject)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == s.id)
        .order_by(Delivery.id)
    ).all()
    return {
        "email": s.email,
        "name": s.name,
        "status": s.status.value,
        "locale": s.locale,
        "frequency": s.frequency.value,
        "source": s.source,
        "bounce_score": s.bounce_score,
        "bounce_score_at": _iso(s.bounce_score_at),
        "created_at": _iso(s.created_at),
        "updated_at": _iso(s.updated_at),
        "confirmed_at": _iso(s.confirmed_at),
        "unsubscribed_at": _iso(s.unsubscribed_at),
        "confirmation_sent_at": _iso(s.confirmation_sent_at),
        "categories": [{"slug": c.slug, "name": c.name} for c in s.categories],
        "areas": [{"code": a.code, "name": a.name} for a in s.areas],
        # A request waiting for its confirmation (name, categories) is theirs too.
        "pending_request": json.loads(s.pending_request) if s.pending_request else None,
        # A new address waiting for its confirmation (subscribers/change_address.py).
        "pending_email": s.pending_email,
        "pending_email_at": _iso(s.pending_email_at),
        "consent_events": [
            {
                "kind": e.kind.value,
                "occurred_at": _iso(e.occurred_at),
                "ip": e.ip,
                "user_agent": e.user_agent,
                "form_text_version": e.form_text_version,
                "source_url": e.source_url,
                "detail": json.loads(e.detail) if e.detail else None,
            }
            for e in s.consent_events
        ],
        "deliveries": [
            {
                "campaign_id": d.campaign_id,
                "campaign_kind": kind.value,
                "campaign_subject": subject,
                "status": d.status.value,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "message_id": d.message_id,
                "sent_at": _iso(d.sent_at),
            }
            for d, kind, subject in deliveries
        ],
    }


def erase_subscriber(session: Session, *, subscriber_id: int) -> bool:
    """Remove every personal datum of a subscriber; only a hashed suppression stays.

    Its rows go (consent events too: the consent they proved is withdrawn with the data),
    the ledger keeps its delivery rows without the person, and the address is scrubbed
    from every log-like column (erasure.scrub_address).
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return False
    suppress(session, email=subscriber.email, reason=SUPPRESSION_ERASED)
    # Work already queued for this person must not go out: the ledger keeps the row for
    # the campaign's counts, without the person.
    session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber.id,
            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.FAILED]),
        )
        .values(status=DeliveryStatus.SKIPPED, last_error="subscriber erased")
    )
    session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber.id).values(
        subscriber_id=None
    ))  # fmt: skip
    # Addresses the subscription had before, or was moving to, may be quoted too.
    earlier = former_addresses(session, subscriber_id=subscriber.id)
    session.execute(delete(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id))
    for email in {subscriber.email} | earlier:
        scrub_address(session, email=email)
    subscriber.categories = []
    subscriber.areas = []
    session.flush()
    session.delete(subscriber)
    session.flush()
    return True


def erase_address(session: Session, *, email: str) -> bool:
    """Erase by address (CLI, admins). The suppression is written even when no row exists."""
    email = normalize_lenient(email)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
    if subscriber is None:
        suppress(session, email=email, reason=SUPPRESSION_ERASED)
        scrub_address(session, email=email)
        return False
    return erase_subscriber(session, subscriber_id=subscriber.id)
