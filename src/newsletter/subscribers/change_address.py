"""A resident moves their subscription to a new address, proved by a link mailed to it.

From the preferences page (the link is the credential) the resident types a new address:
`request_change` keeps it aside (`pending_email`, with a key of its own) and the worker
mails a confirmation link to the NEW address only. Until that link is followed the old
address keeps receiving everything; once it is, `confirm_change` swaps the addresses and
the row keeps its id and `link_key`, so every link mailed before still works.

Neutral answers: when the new address belongs to another subscriber, or is suppressed
for a bounce or a complaint, nothing is kept aside and nothing is mailed, yet the page
answers as for any other address, so the page cannot be used to learn who subscribes.
Consent events record each step: the request (naming the new address), then on
confirmation the address given up (`address_changed_away`) and the one proved
(`address_confirmed`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from newsletter.models import (
    ConsentEvent,
    ConsentKind,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)
from newsletter.models.subscribers import new_link_key
from newsletter.subscribers.consent import Consent, record_consent
from newsletter.subscribers.manage import kept_silent
from newsletter.subscribers.suppression import SUPPRESSION_ERASED, key_hashes

# A second request for the same new address within this mails nothing more.
CHANGE_RESEND = dt.timedelta(minutes=10)
# A complaint is final; every other state may move to a working address.
_MOVABLE = frozenset(SubscriberStatus) - {SubscriberStatus.COMPLAINED}
# A bounced address replaced by a proved one receives again; pending was waiting for a
# proof of the mailbox, which following the link is. Unsubscribed stays unsubscribed.
_REVIVED = frozenset({SubscriberStatus.BOUNCED, SubscriberStatus.PENDING})


class SameAddressError(ValueError):
    """The new address is the one the subscription already has."""


@dataclass(frozen=True)
class ChangeRequested:
    """Whether to mail the confirmation link of a change (to the subscriber's pending_email)."""

    send_confirmation: bool


def address_taken(session: Session, *, email: str, subscriber_id: int) -> bool:
    """`email` is another subscriber's, or suppressed for a bounce or a complaint."""
    other = session.scalar(
        select(Subscriber.id).where(Subscriber.email == email, Subscriber.id != subscriber_id)
    )
    return other is not None or kept_silent(session, email=email)


def request_change(
    session: Session,
    *,
    subscriber_id: int,
    new_email: str,
    consent: Consent,
    now: dt.datetime | None = None,
) -> ChangeRequested:
    """Keep the normalized `new_email` aside until its owner confirms it.

    SameAddressError when it is the current address (the resident's own typing, safe to
    say). A taken or silenced address: nothing stored, nothing mailed.
    """
    now = now or utcnow()
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None or subscriber.status not in _MOVABLE:
        return ChangeRequested(send_confirmation=False)
    if new_email == subscriber.email:
        raise SameAddressError(new_email)
    if address_taken(session, email=new_email, subscriber_id=subscriber_id):
        return ChangeRequested(send_confirmation=False)
    recent = subscriber.pending_email_at is not None and (
        now - subscriber.pending_email_at < CHANGE_RESEND
    )
    if subscriber.pending_email == new_email and recent:
        return ChangeRequested(send_confirmation=False)
    subscriber.pending_email = new_email
    subscriber.pending_email_key = new_link_key()
    subscriber.pending_email_at = now
    record_consent(
        session,
        subscriber,
        ConsentKind.ADDRESS_CHANGE_REQUESTED,
        consent,
        now=now,
        extra={"new_address": new_email},
    )
    session.flush()
    return ChangeRequested(send_confirmation=True)


def former_addresses(session: Session, *, subscriber_id: int) -> set[str]:
    """Every address the subscription had before, or was asked to move to (for erasure)."""
    found: set[str] = set()
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None and subscriber.pending_email:
        found.add(subscriber.pending_email)
    details = session.scalars(
        select(ConsentEvent.detail).where(
            ConsentEvent.subscriber_id == subscriber_id,
            ConsentEvent.kind.in_(
                [ConsentKind.ADDRESS_CHANGE_REQUESTED, ConsentKind.ADDRESS_CHANGED_AWAY]
            ),
        )
    )
    for detail in details:
        data = json.loads(detail or "{}")
        found.update(v for k in ("address", "new_address") if isinstance(v := data.get(k), str))
    return found


def pending_change(session: Session, *, subscriber_id: int) -> tuple[str, str] | None:
    """(new address, its key) of the change waiting for confirmation, or None."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.pending_email is None:
        return None
    if subscriber.pending_email_key is None or subscriber.status not in _MOVABLE:
        return None
    return subscriber.pending_email, subscriber.pending_email_key


def change_waiting(session: Session, *, subscriber_id: int, key: str) -> Subscriber | None:
    """The subscriber whose pending change `key` names, or None (replaced, done, erased)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.pending_email_key is None:
        return None
    if not hmac.compare_digest(subscriber.pending_email_key, key):
        return None
    return subscriber


def confirm_change(
    session: Session,
    *,
    subscriber_id: int,
    key: str,
    consent: Consent,
    now: dt.datetime | None = None,
) -> Subscriber | None:
    """Move the subscription to its pending address; None when the link no longer works
    or the address was taken (by another subscriber, a bounce, a complaint) meanwhile."""
    now = now or utcnow()
    subscriber = session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None or change_waiting(session, subscriber_id=subscriber_id, key=key) is None:
        return None
    new_email = subscriber.pending_email
    if new_email is None or subscriber.status not in _MOVABLE:
        return None
    if address_taken(session, email=new_email, subscriber_id=subscriber_id):
        return None
    old_email = subscriber.email
    record_consent(
        session,
        subscriber,
        ConsentKind.ADDRESS_CHANGED_AWAY,
        consent,
        now=now,
        extra={"address": old_email, "new_address": new_email},
    )
    record_consent(
        session,
        subscriber,
        ConsentKind.ADDRESS_CONFIRMED,
        consent,
        now=now,
        extra={"address": new_email},
    )
    subscriber.email = new_email
    subscriber.pending_email = subscriber.pending_email_key = subscriber.pending_email_at = None
    # The new mailbox starts with a clean record; a confirmation link mailed to the old
    # address (a pending subscription) no longer applies.
    subscriber.bounce_score = 0.0
    subscriber.bounce_score_at = None
    subscriber.confirm_key = None
    subscriber.pending_request = None
    if subscriber.status in _REVIVED:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = now
    subscriber.updated_at = now
    # Its owner proved the mailbox: an erasure they once asked for no longer holds it back.
    session.execute(
        delete(Suppression).where(
            Suppression.email_hash.in_(key_hashes(session, new_email)),
            Suppression.reason == SUPPRESSION_ERASED,
        )
    )
    session.flush()
    return subscriber
