"""Entry points for the CLI, the admin face and the public site: enqueue, never send inline.

The CLI builds a Celery app only to enqueue (`create_producer`, which imports no task
module), and closes it; the web app keeps one `CeleryProducer` (built on first use, closed
by its lifespan). The work itself happens in the workers (tasks.py).
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from kombu.exceptions import OperationalError

from newsletter.campaigns import control as campaign_control
from newsletter.config import Settings
from newsletter.delivery.ledger import Work
from newsletter.mail.outgoing import Recipient
from newsletter.runtime import Runtime
from newsletter.tasks.app import create_celery, create_producer
from newsletter.tasks.enqueue import (
    CONFIRMATIONS_PER_TASK,
    build_and_start_digest,
    enqueue,
    enqueue_confirmations,
    start_and_enqueue,
)

log = logging.getLogger(__name__)


class CeleryProducer:
    """The Celery app of a process that only enqueues: built on first use, closed once.

    Building it lazily keeps apps that never enqueue (most tests, `/healthz`) free of a
    broker connection pool.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Celery | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Celery:
        with self._lock:
            if self._app is None:
                self._app = create_celery(self._settings)
            return self._app

    def close(self) -> None:
        with self._lock:
            if self._app is not None:
                self._app.close()
                self._app = None


def start_campaign_now(runtime: Runtime, *, campaign_id: int) -> Work:
    """Fill the ledger of a draft campaign and enqueue its batches."""
    app = create_producer(runtime.settings)
    try:
        return start_and_enqueue(app, runtime, campaign_id)
    finally:
        app.close()


def send_digest_now(runtime: Runtime) -> int | None:
    """Build and start this period's digest; None when there is nothing new or it exists."""
    app = create_producer(runtime.settings)
    try:
        return build_and_start_digest(app, runtime)
    finally:
        app.close()


def send_test(runtime: Runtime, *, campaign_id: int, address: str) -> str:
    """Send one copy of a campaign to `address`, outside the ledger; returns its Message-ID.

    The copy's personal links point at no subscriber (id 0), so they lead nowhere.
    """
    # Imported here: composing pulls in Jinja2, CSS inlining and DKIM, which only a test
    # send needs before the bulletin's batches are queued (its workers compose the rest).
    from newsletter.delivery.transport import open_transport
    from newsletter.mail.composer import composer_for

    with runtime.sessions() as session:
        composer = composer_for(session, runtime.settings, campaign_id)
    message = composer.compose(
        Recipient(delivery_id=0, subscriber_id=0, email=address, category_ids=frozenset())
    )
    transport = open_transport(runtime.settings.smtp_url)
    try:
        transport.send(
            sender=message.envelope_from, recipient=message.recipient, message=message.data
        )
    finally:
        transport.close()
    return message.message_id


def control_campaign(runtime: Runtime, *, campaign_id: int, action: str) -> int:
    """pause | resume | cancel | retry-failed, then enqueue what it freed (after the commit).

    Returns the number of batches queued (resume, retry-failed) or of messages that will
    not be sent (cancel). LookupError / CampaignStateError as campaign_control raises them.
    """
    settings = runtime.settings
    with runtime.sessions.begin() as session:
        if action == "pause":
            campaign_control.pause(session, campaign_id=campaign_id)
            return 0
        if action == "cancel":
            return campaign_control.cancel(session, campaign_id=campaign_id)
        if action == "resume":
            work = campaign_control.resume(
                session, campaign_id=campaign_id, batch_size=settings.batch_size
            )
        elif action == "retry-failed":
            work = campaign_control.retry_failed(
                session, campaign_id=campaign_id, batch_size=settings.batch_size
            )
        else:
            raise ValueError(f"unknown campaign action {action!r}")
    app = create_producer(settings)
    try:
        return enqueue(app, [work])
    finally:
        app.close()


def queue_confirmations(app: Celery, runtime: Runtime, *, subscriber_ids: list[int]) -> int:
    """Enqueue the confirmations of requests whose transactions have committed.

    CONFIRMATIONS_PER_TASK ids go in each `send_confirmations` task (a CSV import of
    50,000 addresses is 500 publishes, not 50,000). Returns how many could not be queued
    because the broker is unreachable: those are released (release_confirmations), so
    the next request for each address tries again at once instead of being silenced for
    CONFIRM_RESEND_HOURS.
    """
    not_queued: list[int] = []
    for first in range(0, len(subscriber_ids), CONFIRMATIONS_PER_TASK):
        chunk = subscriber_ids[first : first + CONFIRMATIONS_PER_TASK]
        try:
            enqueue_confirmations(app, subscriber_ids=chunk)
        except OperationalError as exc:  # kombu's "cannot reach the broker", Redis or SQL
            log.warning("%d confirmation(s) not queued: %s", len(chunk), exc)
            not_queued += chunk
    if not_queued:
        release_confirmations(runtime, subscriber_ids=not_queued)
    return len(not_queued)


def release_confirmations(runtime: Runtime, *, subscriber_ids: list[int]) -> None:
    """Clear confirmation_sent_at of confirmations that were never queued.

    Never raises: when the database is down as well, those residents wait
    CONFIRM_RESEND_HOURS, and the caller (a request's background work, the publisher's
    thread, an import that has committed) must not fail for it.
    """
    # Imported here: the subscribe path (email-validator, dnspython) is no business of
    # `bulletin send`, which imports this module to enqueue its first batch.
    from newsletter.subscribers.lifecycle import forget_confirmation_sent

    try:
        with runtime.sessions.begin() as session:
            forget_confirmation_sent(session, subscriber_ids=subscriber_ids)
    except Exception:
        log.exception("could not release %d unsent confirmation(s)", len(subscriber_ids))
