"""Who may be mailed a link to their preferences page ("Quản lý đăng ký", GET|POST /manage).

A resident types an address; the page answers the same whatever it is. Afterwards, out
of the request's sight, `claim_manage_mail` decides whether that address gets a mail:
- a subscriber that is active, pending or unsubscribed gets the link, unless the address
  is suppressed for a bounce or a complaint (an erased-then-re-subscribed address is not
  silent: its owner subscribed again). An unsubscribed resident may want to come back:
  their preferences page has the "Đăng ký lại" button; a pending one sees that a
  confirmation is awaited;
- an unknown or erased address (no row), a bounced or complained one, gets nothing;
- the same subscriber gets at most one such mail per MANAGE_RESEND: the form's limits
  count requests, this counts mails, so a mailbox cannot be flooded through many networks.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Subscriber, SubscriberStatus, Suppression, utcnow
from newsletter.subscribers.suppression import SUPPRESSION_ERASED, key_hashes

MANAGE_RESEND = dt.timedelta(minutes=10)
MAILED_STATUSES = frozenset(
    {SubscriberStatus.ACTIVE, SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED}
)


def kept_silent(session: Session, *, email: str) -> bool:
    """The normalized `email` is suppressed for a reason other than its owner's erasure."""
    reasons = session.scalars(
        select(Suppression.reason).where(Suppression.email_hash.in_(key_hashes(session, email)))
    )
    return bool(set(reasons) - {SUPPRESSION_ERASED})


def may_mail_manage_link(session: Session, subscriber: Subscriber) -> bool:
    """The rule above, without the resend window (the worker checks it again at send time)."""
    return subscriber.status in MAILED_STATUSES and not kept_silent(session, email=subscriber.email)


def claim_manage_mail(
    session: Session, *, email: str, now: dt.datetime | None = None
) -> int | None:
    """The id of the subscriber to mail a manage link to for the normalized `email`, or None.

    Marks the mail as sent now (`manage_sent_at`), so a second request within
    MANAGE_RESEND mails nothing; `forget_manage_mail` undoes it when it could not be queued.
    """
    now = now or utcnow()
    subscriber = session.scalars(
        select(Subscriber).where(Subscriber.email == email).with_for_update()
    ).one_or_none()
    if subscriber is None or not may_mail_manage_link(session, subscriber):
        return None
    if subscriber.manage_sent_at is not None and now - subscriber.manage_sent_at < MANAGE_RESEND:
        return None
    subscriber.manage_sent_at = now
    session.flush()
    return subscriber.id


def forget_manage_mail(session: Session, *, subscriber_id: int) -> None:
    """The manage mail was never queued: the resident's next request mails at once."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        subscriber.manage_sent_at = None
