"""The subscription lifecycle's way in: subscribe (double opt-in) and confirm.

What follows it (preferences, unsubscribe, export, erase) is in preferences.py; the
consent events every step records, in consent.py.

No web code here. Every function takes a `session` and keyword-only arguments; the
caller owns the transaction and sends any mail only after it commits.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from newsletter.content.categories import categories_by_slug
from newsletter.models import (
    Category,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from newsletter.models.subscribers import new_link_key
from newsletter.subscribers.areas import add_subscriber_areas, areas_by_code, choose_areas
from newsletter.subscribers.consent import Consent, consent_row, record_consent
from newsletter.subscribers.new_address import (
    INSERT_CATEGORIES,
    INSERT_CONSENT,
    insert_new,
    subscribe_new_postgresql,
)
from newsletter.subscribers.suppression import (
    SUPPRESSION_ERASED,
    SuppressionHashes,
    address_hashes,
    key_hashes,
)

__all__ = [
    "SUPPRESSION_ERASED",
    "Consent",
    "SubscribeOutcome",
    "SubscribeRequest",
    "confirm_subscription",
    "forget_confirmation_sent",
    "record_consent",
    "request_again",
    "request_new",
    "request_subscription",
]

# Statuses that a new request may move back to `pending` with a fresh confirmation.
_REOPENABLE = {SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED}
_FREQUENCIES = {f.value for f in Frequency}


@dataclass(frozen=True)
class SubscribeOutcome:
    """What the caller must do after committing: mail a confirmation or nothing.

    `known`: the address already had a row, and `request_again` has yet to record the
    request (the web form runs it after answering, so timing tells nothing).
    """

    subscriber_id: int | None
    send_confirmation: bool
    known: bool = False


@dataclass(frozen=True)
class SubscribeRequest:
    """A subscribe request as the resident typed it (the address already normalized)."""

    email: str
    name: str | None
    category_slugs: list[str]
    consent: Consent
    # None: not stated (weekly for a new address; a known one's choice stays).
    frequency: Frequency | None = None
    area_codes: tuple[str, ...] = ()


# Both forms of the address's hash: the keyed one, and the unkeyed one of rows not
# re-keyed yet (suppression.py).
_SUPPRESSION_REASONS = select(Suppression.reason).where(
    Suppression.email_hash.in_([bindparam("email_hash"), bindparam("legacy_hash")])
)


def _reasons_silent(session: Session, hashes: SuppressionHashes) -> bool:
    params = {"email_hash": hashes.keyed, "legacy_hash": hashes.legacy}
    return bool(set(session.scalars(_SUPPRESSION_REASONS, params)) - {SUPPRESSION_ERASED})


def _kept_silent(session: Session, *, email: str) -> bool:
    """Suppressed for a reason other than its owner's erasure (bounce, complaint...)."""
    return _reasons_silent(session, address_hashes(session, email))


def _kept_silent_key(session: Session, *, email: str) -> bool:
    """`_kept_silent` for a key `request_subscription` was given (already normalized)."""
    return _reasons_silent(session, key_hashes(session, email))


def request_subscription(
    session: Session,
    *,
    email: str,
    name: str | None,
    category_slugs: list[str],
    consent: Consent,
    resend_after: dt.timedelta,
    frequency: Frequency | None = None,
    now: dt.datetime | None = None,
    area_codes: Collection[str] = (),
) -> SubscribeOutcome:
    """Record a subscribe request for the normalized `email`; say whether to mail it.

    `request_new` then, for a known address, `request_again` in the same transaction.
    Raises CategoryError for an unknown category slug, AreaError for an unknown area.
    """
    request = SubscribeRequest(email, name, category_slugs, consent, frequency, tuple(area_codes))
    outcome = request_new(session, request=request, now=now)
    if not outcome.known:
        return outcome
    return request_again(session, request=request, resend_after=resend_after, now=now)


def request_new(
    session: Session, *, request: SubscribeRequest, now: dt.datetime | None = None
) -> SubscribeOutcome:
    """The part of a request that is the same work for every address: insert it if new.

    A new, unsuppressed address becomes `pending` with its consent event and categories,
    due its confirmation now. Bounced, complained and otherwise suppressed addresses get
    nothing. Any other known address comes back `known=True`, untouched.
    Raises CategoryError for an unknown category slug.
    """
    now = now or utcnow()
    email, name, consent = request.email, request.name, request.consent
    categories = categories_by_slug(session, request.category_slugs)
    frequency = request.frequency or Frequency.WEEKLY
    areas = areas_by_code(session, request.area_codes)
    extra: dict[str, object] = {
        "categories": [c.slug for c in categories],
        "frequency": frequency.value,
    }
    if areas:
        extra["areas"] = [a.code for a in areas]
    if session.get_bind().dialect.name == "postgresql":
        # A new address (the common case) in one statement, suppression check included.
        new_id, silent = subscribe_new_postgresql(
            session,
            email=email,
            name=name,
            consent=consent,
            now=now,
            extra=extra,
            reads_every_category=not categories,
            frequency=frequency,
        )
        if silent:
            return SubscribeOutcome(subscriber_id=None, send_confirmation=False)
    else:
        if _kept_silent_key(session, email=email):
            return SubscribeOutcome(subscriber_id=None, send_confirmation=False)
        new_id = insert_new(
            session,
            email=email,
            name=name,
            consent=consent,
            now=now,
            reads_every_category=not categories,
            frequency=frequency,
        )
        if new_id is not None:
            # A new address: three statements in all, no ORM flush.
            row = consent_row(
                new_id, ConsentKind.SUBSCRIBE_REQUESTED, consent, now=now, extra=extra
            )
            session.execute(INSERT_CONSENT, row)
    if new_id is None:
        return SubscribeOutcome(subscriber_id=None, send_confirmation=False, known=True)
    if categories:
        session.execute(
            INSERT_CATEGORIES,
            [{"subscriber_id": new_id, "category_id": c.id} for c in categories],
        )
    add_subscriber_areas(session, subscriber_id=new_id, areas=areas)
    return SubscribeOutcome(subscriber_id=new_id, send_confirmation=True)


def request_again(
    session: Session,
    *,
    request: SubscribeRequest,
    resend_after: dt.timedelta,
    now: dt.datetime | None = None,
) -> SubscribeOutcome:
    """A request for an address that has a row: a new confirmation at most once per
    `resend_after`, and nothing stored changes until it is confirmed.

    An active subscriber is left exactly as it is (a stranger may be typing its address);
    so are bounced and complained ones. A pending or unsubscribed one keeps its status,
    name, categories and frequency: the request (name, categories, frequency when
    stated) waits in `pending_request`, and
    a new `confirm_key` makes every older confirmation link stop working. Within
    `resend_after` of the last confirmation nothing changes at all, so the link already
    mailed stays the one that works.
    """
    now = now or utcnow()
    # Locked first (another request may have inserted it a moment ago: its row is seen).
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.email == request.email).with_for_update()
    ).one_or_none()
    if subscriber is None or subscriber.status not in _REOPENABLE:
        return SubscribeOutcome(
            subscriber_id=subscriber.id if subscriber else None, send_confirmation=False
        )
    last = subscriber.confirmation_sent_at
    if last is not None and now - last < resend_after:
        return SubscribeOutcome(subscriber_id=subscriber.id, send_confirmation=False)
    slugs = [c.slug for c in categories_by_slug(session, request.category_slugs)]
    codes = [a.code for a in areas_by_code(session, request.area_codes)]
    wanted: dict[str, object] = {
        "name": request.name or None,
        "categories": slugs,
        "areas": codes,
    }
    extra: dict[str, object] = {"categories": slugs}
    if codes:
        extra["areas"] = codes
    if request.frequency is not None:
        # Applied by its confirmation only, like the rest of the request.
        wanted["frequency"] = extra["frequency"] = request.frequency.value
    subscriber.pending_request = json.dumps(wanted, ensure_ascii=False)
    subscriber.confirm_key = new_link_key()
    subscriber.confirmation_sent_at = now
    record_consent(
        session,
        subscriber,
        ConsentKind.SUBSCRIBE_REQUESTED,
        request.consent,
        now=now,
        extra=extra,
    )
    session.flush()
    return SubscribeOutcome(subscriber_id=subscriber.id, send_confirmation=True)


def forget_confirmation_sent(session: Session, *, subscriber_ids: Collection[int]) -> None:
    """After a failed send: let the next request try again instead of waiting hours."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id.in_(subscriber_ids))
        .values(confirmation_sent_at=None)
    )


def confirm_subscription(
    session: Session,
    *,
    subscriber_id: int,
    confirm_key: str,
    consent: Consent,
    now: dt.datetime | None = None,
) -> Subscriber | None:
    """Make the subscriber active with what its newest request asked for.

    Only the newest confirmation link works: its key must be the row's `confirm_key`
    (a new confirmation replaces it, unsubscribing clears it, erasure deletes it). None
    when the key does not match or the subscriber is bounced or complained; an active
    subscriber with nothing waiting stays as it is (a second click).
    """
    now = now or utcnow()
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None or subscriber.confirm_key is None:
        return None
    if not hmac.compare_digest(subscriber.confirm_key, confirm_key):
        return None
    if subscriber.status is SubscriberStatus.ACTIVE and subscriber.pending_request is None:
        return subscriber
    if subscriber.status not in _REOPENABLE | {SubscriberStatus.ACTIVE}:
        return None
    if subscriber.pending_request is not None:
        wanted = json.loads(subscriber.pending_request)
        subscriber.name = wanted.get("name") or None
        # A category deleted since the request is dropped from it, not an error.
        slugs = wanted.get("categories") or []
        subscriber.categories = list(
            session.scalars(select(Category).where(Category.slug.in_(slugs)))
        )
        if wanted.get("frequency") in _FREQUENCIES:
            subscriber.frequency = Frequency(wanted["frequency"])
        if "areas" in wanted:  # a request stored before areas existed leaves them be
            choose_areas(session, subscriber, wanted["areas"] or [])
        subscriber.pending_request = None
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.updated_at = now
    record_consent(session, subscriber, ConsentKind.CONFIRMED, consent, now=now)
    # An address its owner once erased is mailable again only now that they proved it.
    session.execute(
        delete(Suppression).where(
            Suppression.email_hash.in_(address_hashes(session, subscriber.email)),
            Suppression.reason == SUPPRESSION_ERASED,
        )
    )
    session.flush()
    return subscriber
