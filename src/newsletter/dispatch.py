"""Entry points for the CLI and the admin face: start a campaign, send a test, digest now.

Each builds a Celery app only to enqueue, and closes it; the work itself happens in the
workers (tasks.py).
"""

from __future__ import annotations

from celery import Celery

from newsletter.compose import composer_for
from newsletter.delivery import Work
from newsletter.outgoing import Recipient
from newsletter.runtime import Runtime
from newsletter.tasks import (
    SEND_CONFIRMATION,
    URGENT_QUEUE,
    build_and_start_digest,
    start_and_enqueue,
)
from newsletter.transport import open_transport
from newsletter.worker import create_celery


def start_campaign_now(runtime: Runtime, *, campaign_id: int) -> Work:
    """Fill the ledger of a draft campaign and enqueue its batches."""
    app = create_celery(runtime.settings)
    try:
        return start_and_enqueue(app, runtime, campaign_id)
    finally:
        app.close()


def send_digest_now(runtime: Runtime) -> int | None:
    """Build and start this period's digest; None when there is nothing new or it exists."""
    app = create_celery(runtime.settings)
    try:
        return build_and_start_digest(app, runtime)
    finally:
        app.close()


def send_test(runtime: Runtime, *, campaign_id: int, address: str) -> str:
    """Send one copy of a campaign to `address`, outside the ledger; returns its Message-ID.

    The copy's personal links point at no subscriber (id 0), so they lead nowhere.
    """
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


def enqueue_confirmation(app: Celery, *, subscriber_id: int) -> None:
    """Queue a subscriber's confirmation mail on the urgent queue (after the commit)."""
    app.send_task(SEND_CONFIRMATION, args=[subscriber_id], queue=URGENT_QUEUE)
