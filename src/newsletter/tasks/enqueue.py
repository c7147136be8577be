"""The one API that enqueues: every process's way to put work on the queues.

The CLI, the admin, the API and the public site call these; none sends mail inline.
Each function commits its transaction first and enqueues after the commit returns, so a
worker never looks for a row that is not there yet. Light on purpose: `newsletter bulletin
send` imports this module to enqueue its first batch without importing the task bodies
(feeds, bounce intake, the send loop), so the bulletin's first message leaves at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from celery import Celery
from kombu.exceptions import OperationalError

from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.alerts import build_alert, unalerted_batches
from newsletter.campaigns.approval import Actor, check_send
from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.build import NoDigest, digest_to_start, period_made
from newsletter.campaigns.periods import cadence_for
from newsletter.config import Settings
from newsletter.delivery import lease as leases
from newsletter.delivery.ledger import Work
from newsletter.models import Campaign, Frequency, utcnow
from newsletter.runtime import Runtime
from newsletter.tasks.app import (
    SEND_ADDRESS_CONFIRMATION,
    SEND_BATCH,
    SEND_CONFIRMATION,
    SEND_CONFIRMATIONS,
    SEND_MANAGE_LINK,
    URGENT_QUEUE,
    create_producer,
    queue_for,
)

log = logging.getLogger(__name__)

# Ids per `send_confirmations` task: 100 confirmations take a worker well under a minute.
CONFIRMATIONS_PER_TASK = 100


def enqueue(app: Celery, works: list[Work]) -> int:
    """Send one batch task per range; call only after the ledger's commit returned."""
    count = 0
    for work in works:
        for first_id, last_id in work.ranges:
            app.send_task(
                SEND_BATCH, args=[work.campaign_id, first_id, last_id], queue=queue_for(work.kind)
            )
            count += 1
    return count


def enqueue_confirmation(app: Celery, *, subscriber_id: int) -> None:
    """Queue a subscriber's confirmation mail on the urgent queue (after the commit)."""
    app.send_task(SEND_CONFIRMATION, args=[subscriber_id], queue=URGENT_QUEUE)


def enqueue_confirmations(app: Celery, *, subscriber_ids: list[int]) -> None:
    """Queue several confirmations as one task (after their commits; the web's publisher)."""
    app.send_task(SEND_CONFIRMATIONS, args=[subscriber_ids], queue=URGENT_QUEUE)


def enqueue_manage_link(app: Celery, *, subscriber_id: int) -> None:
    """Queue the "Quản lý đăng ký" mail of a subscriber on the urgent queue (after the commit)."""
    app.send_task(SEND_MANAGE_LINK, args=[subscriber_id], queue=URGENT_QUEUE)


def enqueue_address_confirmation(app: Celery, *, subscriber_id: int) -> None:
    """Queue the confirmation of a subscriber's new address (after the commit)."""
    app.send_task(SEND_ADDRESS_CONFIRMATION, args=[subscriber_id], queue=URGENT_QUEUE)


def start_and_enqueue(app: Celery, runtime: Runtime, campaign_id: int) -> Work:
    """Start a draft campaign and enqueue its batches (commit first, then enqueue)."""
    with runtime.sessions.begin() as session:
        work = start_campaign(
            session, campaign_id=campaign_id, batch_size=runtime.settings.batch_size
        )
    enqueue(app, [work])
    return work


def start_due_bulletins(app: Celery, runtime: Runtime, *, now: dt.datetime | None = None) -> int:
    """Start every scheduled bulletin whose time has come (beat, every minute); how many.

    One transaction per bulletin, each enqueued after its commit; a bulletin the approval
    rules hold back is left with a note (campaigns/schedule.py).
    """
    # Imported here: `bulletin send` imports this module and needs no schedule.
    from newsletter.campaigns.schedule import due_bulletins, start_if_due

    now = now or utcnow()
    settings = runtime.settings
    with runtime.sessions() as session:
        due = due_bulletins(session, now=now)
    started = 0
    for campaign_id in due:
        with runtime.sessions.begin() as session:
            work = start_if_due(
                session,
                campaign_id=campaign_id,
                threshold=settings.approval_threshold,
                batch_size=settings.batch_size,
                now=now,
            )
        if work is not None and work.started:
            enqueue(app, [work])
            started += 1
    return started


def reconcile_and_enqueue(
    app: Celery,
    runtime: Runtime,
    *,
    lease: dt.timedelta = leases.LEASE,
    stall: dt.timedelta = leases.STALL,
) -> int:
    """Run the reconciler and enqueue what it found; returns how many batches."""
    with runtime.sessions.begin() as session:
        works = leases.reconcile(
            session, lease=lease, stall=stall, batch_size=runtime.settings.batch_size
        )
    count = enqueue(app, works)
    # Arrival batches whose alert was never made (a crash between the ingest's commit
    # and its enqueue): made here, within RECONCILE_EVERY.
    return count + len(start_alerts(app, runtime))


def start_alerts(app: Celery, runtime: Runtime, *, now: dt.datetime | None = None) -> list[int]:
    """Make and start the alert of every arrival batch that has none yet; their ids.

    Called after an ingest's commit (feed poll, API push, file import) and by the
    reconciler. Each batch is decided in one transaction that also starts its alert, so
    a crash leaves it either undecided (made next time) or started (sent by the
    reconciler's stall rule if its enqueue was lost).
    """
    settings = runtime.settings
    with runtime.sessions() as session:
        batch_ids = unalerted_batches(session)
    started: list[int] = []
    for batch_id in batch_ids:
        with runtime.sessions.begin() as session:
            campaign = build_alert(
                session, settings=settings, batch_id=batch_id, now=now or utcnow()
            )
            if campaign is None:
                continue
            session.flush()
            work = start_campaign(session, campaign_id=campaign.id, batch_size=settings.batch_size)
        enqueue(app, [work])
        started.append(work.campaign_id)
    return started


def start_alerts_now(runtime: Runtime) -> list[int]:
    """start_alerts for a process that only enqueues (the CLI after an import)."""
    app = create_producer(runtime.settings)
    try:
        return start_alerts(app, runtime)
    finally:
        app.close()


def start_digest(
    app: Celery,
    runtime: Runtime,
    *,
    now: dt.datetime | None = None,
    frequency: Frequency = Frequency.WEEKLY,
) -> int | NoDigest:
    """This period's digest, built and started; else why not (`campaigns.build.NoDigest`).

    `frequency`: the weekly digest (hang-tuan) or the daily one (hang-ngay).
    `campaigns.build_digest` returns the period's existing digest when there is one (two
    beats, a re-run, `digest send --now`): that one is never started again.
    """
    now = now or utcnow()
    cadence = cadence_for(frequency)
    with runtime.sessions.begin() as session:
        outcome = digest_to_start(session, settings=runtime.settings, now=now, cadence=cadence)
        if isinstance(outcome, NoDigest):
            return outcome
        campaign_id: int = outcome.id
    # Two beats may both get the same fresh draft; only one of them starts it.
    if start_and_enqueue(app, runtime, campaign_id).started:
        return campaign_id
    with runtime.sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        return period_made(runtime.settings, campaign, now=now, cadence=cadence)


def build_and_start_digest(
    app: Celery,
    runtime: Runtime,
    *,
    now: dt.datetime | None = None,
    frequency: Frequency = Frequency.WEEKLY,
) -> int | None:
    """start_digest for beat: the started digest's id, or None when none was started."""
    outcome = start_digest(app, runtime, now=now, frequency=frequency)
    return outcome if isinstance(outcome, int) else None


class CeleryProducer:
    """The Celery app of a long-lived process that only enqueues (the web): built on first
    use, closed once. It registers no task: `send_task` needs none.

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
                self._app = create_producer(self._settings)
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


def send_bulletin_now(
    runtime: Runtime,
    *,
    campaign_id: int,
    actor: Actor,
    emergency_reason: str | None = None,
) -> Work:
    """Start a draft bulletin if the two-officials rules let `actor` send it now
    (campaigns/approval.py; ApprovalError says why not), then enqueue its batches.

    The check and the start are one transaction, so an edit that withdraws the approval
    cannot slip between them.
    """
    with runtime.sessions.begin() as session:
        check_send(
            session,
            campaign_id=campaign_id,
            actor=actor,
            threshold=runtime.settings.approval_threshold,
            emergency_reason=emergency_reason,
        )
        work = start_campaign(
            session, campaign_id=campaign_id, batch_size=runtime.settings.batch_size
        )
    app = create_producer(runtime.settings)
    try:
        enqueue(app, [work])
    finally:
        app.close()
    return work


def send_digest_now(runtime: Runtime, *, frequency: Frequency = Frequency.WEEKLY) -> int | NoDigest:
    """Build and start this period's digest (weekly or daily); else why not."""
    app = create_producer(runtime.settings)
    try:
        return start_digest(app, runtime, frequency=frequency)
    finally:
        app.close()


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
    # Imported here: the subscribe path (email-validator, dnspython) is no business of
    # `bulletin send`, which imports this module to enqueue its first batch.
    from newsletter.delivery.confirmations import release_confirmations

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
