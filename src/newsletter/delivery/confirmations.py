"""The Vietnamese confirmation mail of the double opt-in: built, then sent.

`send_confirmation` and `send_confirmations` are the plain functions the urgent-queue
tasks wrap (tasks/jobs.py); the subscribe form (tasks/confirmation_publisher.py) and the
imports (`tasks.enqueue.queue_confirmations`) enqueue them once their transaction has
committed. The subscriber's name is never used here: a stranger can type any name next
to a victim's address, and it must not reach the victim's mailbox, let alone a header or
a link.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.delivery.transport import DeliveryError, RetryLaterError, Transport, open_transport
from newsletter.mail.links import confirm_url, confirmation_verp_id
from newsletter.mail.transactional import build_single
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.runtime import Runtime
from newsletter.subscribers.lifecycle import forget_confirmation_sent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfirmationMail:
    sender: str  # envelope sender
    recipient: str  # ASCII form of the address (A-label domain)
    message: bytes


def _days(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def build_confirmation(
    settings: Settings,
    *,
    subscriber_id: int,
    confirm_key: str,
    email: str,
    now: dt.datetime | None = None,
) -> ConfirmationMail:
    """The confirmation message for `email` (its stored, normalized form).

    Built like every other mail (mail/transactional.py): DKIM-signed, VERP Return-Path.
    """
    now = now or dt.datetime.now(dt.UTC)
    context = {
        "confirm_url": confirm_url(settings, subscriber_id, confirm_key),
        "valid_days": _days(settings.confirm_token_days),
        "valid_until": now + dt.timedelta(days=settings.confirm_token_days),
        "links": None,
        "preheader": f"Bấm một lần để hoàn tất đăng ký nhận bản tin của {settings.org_name}.",
    }
    message = build_single(
        settings,
        template="confirmation",
        context=context,
        email=email,
        verp_id=confirmation_verp_id(subscriber_id),
        feedback_kind="confirmation",
    )
    return ConfirmationMail(
        sender=message.envelope_from, recipient=message.recipient, message=message.data
    )


def mail_confirmation(
    settings: Settings,
    *,
    subscriber_id: int,
    confirm_key: str,
    email: str,
    transport: Transport | None = None,
) -> None:
    """Build and send one confirmation through NEWSLETTER_SMTP_URL; DeliveryError on refusal.

    With `transport` (a worker's, kept open between confirmations) the mail reuses its
    connection instead of paying a connect, EHLO and QUIT of its own.
    """
    mail = build_confirmation(
        settings, subscriber_id=subscriber_id, confirm_key=confirm_key, email=email
    )
    if transport is not None:
        transport.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
        return
    own = open_transport(settings.smtp_url)
    try:
        own.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
    finally:
        own.close()


def send_confirmation(
    runtime: Runtime, *, subscriber_id: int, transport: Transport | None = None
) -> bool:
    """Mail a subscriber's newest confirmation link; False when there is none to mail.

    The address and the link's key are read at run time, so an erasure, an unsubscribe
    or a newer request between the request and the task wins. A temporary refusal
    raises RetryLaterError (the task retries with backoff).
    """
    with runtime.sessions() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None or subscriber.confirm_key is None:
            return False
        waiting = subscriber.status is SubscriberStatus.PENDING or (
            subscriber.status is SubscriberStatus.UNSUBSCRIBED
            and subscriber.pending_request is not None
        )
        if not waiting:
            return False
        email, confirm_key = subscriber.email, subscriber.confirm_key
    try:
        mail_confirmation(
            runtime.settings,
            subscriber_id=subscriber_id,
            confirm_key=confirm_key,
            email=email,
            transport=transport,
        )
    except DeliveryError as exc:
        if exc.permanent:
            log.warning("confirmation to subscriber %s refused: %s", subscriber_id, exc)
            return False
        raise RetryLaterError(f"confirmation to subscriber {subscriber_id}: {exc}") from exc
    return True


def send_confirmations(
    runtime: Runtime,
    *,
    subscriber_ids: list[int],
    transport: Transport | None,
    retry_alone: Callable[[int], None],
) -> int:
    """Mail each confirmation of a web process's batch; returns how many were mailed.

    One that failed temporarily is handed to `retry_alone` (a task of its own that retries
    with backoff), so the others are neither delayed nor mailed twice.
    """
    mailed = 0
    for subscriber_id in subscriber_ids:
        try:
            mailed += send_confirmation(runtime, subscriber_id=subscriber_id, transport=transport)
        except RetryLaterError as exc:
            log.info("confirmation to subscriber %s retried alone: %s", subscriber_id, exc)
            retry_alone(subscriber_id)
    return mailed


def confirmation_gave_up(runtime: Runtime, *, subscriber_ids: list[int]) -> None:
    """The confirmations could not be sent after every retry: let each resident's next
    request mail at once instead of waiting CONFIRM_RESEND_HOURS."""
    log.warning("confirmation to subscriber(s) %s given up after retries", subscriber_ids)
    release_confirmations(runtime, subscriber_ids=subscriber_ids)


def release_confirmations(runtime: Runtime, *, subscriber_ids: list[int]) -> None:
    """Clear confirmation_sent_at of confirmations that were never queued or sent.

    Never raises: when the database is down as well, those residents wait
    CONFIRM_RESEND_HOURS, and the caller (a request's background work, the publisher's
    thread, an import that has committed, a task's failure handler) must not fail for it.
    """
    try:
        with runtime.sessions.begin() as session:
            forget_confirmation_sent(session, subscriber_ids=subscriber_ids)
    except Exception:
        log.exception("could not release %d unsent confirmation(s)", len(subscriber_ids))
