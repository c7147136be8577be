"""What a process that only enqueues needs: queue and task names, routes, enqueueing.

Kept apart from tasks.py, whose task bodies import feeds, bounce intake, confirmation and
sending: `newsletter bulletin send` enqueues its first batch without importing any of them
(an urgent bulletin's first message must leave within 2 s of the command).
"""

from __future__ import annotations

import datetime as dt

from celery import Celery

from newsletter.campaigns.build import build_digest
from newsletter.delivery import ledger as delivery
from newsletter.models import CampaignKind, CampaignStatus, utcnow
from newsletter.runtime import Runtime

URGENT_QUEUE = "urgent"
BULK_QUEUE = "bulk"
DEFAULT_QUEUE = "default"

SEND_BATCH = "newsletter.send_batch"
RECONCILE = "newsletter.reconcile"
BUILD_DIGEST = "newsletter.build_and_start_digest"
POLL_FEEDS = "newsletter.poll_feeds"
POLL_BOUNCES = "newsletter.poll_bounces"
SEND_CONFIRMATION = "newsletter.send_confirmation"
SEND_CONFIRMATIONS = "newsletter.send_confirmations"  # a web process's batch of them
# Ids per `send_confirmations` task: 100 confirmations take a worker well under a minute.
CONFIRMATIONS_PER_TASK = 100

# Where each task goes when its sender names no queue (send_batch always names one).
TASK_ROUTES = {
    RECONCILE: {"queue": DEFAULT_QUEUE},
    BUILD_DIGEST: {"queue": DEFAULT_QUEUE},
    POLL_FEEDS: {"queue": DEFAULT_QUEUE},
    POLL_BOUNCES: {"queue": DEFAULT_QUEUE},
    SEND_CONFIRMATION: {"queue": URGENT_QUEUE},
    SEND_CONFIRMATIONS: {"queue": URGENT_QUEUE},
}


def queue_for(kind: CampaignKind) -> str:
    """Bulletins go on the urgent queue and overtake digests, which go on bulk."""
    return URGENT_QUEUE if kind is CampaignKind.BULLETIN else BULK_QUEUE


def enqueue(app: Celery, works: list[delivery.Work]) -> int:
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
    """Queue several confirmations as one task (after their commits; confirmation_queue)."""
    app.send_task(SEND_CONFIRMATIONS, args=[subscriber_ids], queue=URGENT_QUEUE)


def start_and_enqueue(app: Celery, runtime: Runtime, campaign_id: int) -> delivery.Work:
    """Start a draft campaign and enqueue its batches (commit first, then enqueue)."""
    with runtime.sessions.begin() as session:
        work = delivery.start_campaign(
            session, campaign_id=campaign_id, batch_size=runtime.settings.batch_size
        )
    enqueue(app, [work])
    return work


def build_and_start_digest(
    app: Celery, runtime: Runtime, *, now: dt.datetime | None = None
) -> int | None:
    """This period's digest, built and started; None when there is nothing (new) to send.

    `campaigns.build_digest` returns the period's existing digest when there is one (two
    beats, a re-run, `digest send --now`): that one is never started again.
    """
    now = now or utcnow()
    with runtime.sessions.begin() as session:
        campaign = build_digest(session, settings=runtime.settings, now=now)
        if campaign is None or campaign.status is not CampaignStatus.DRAFT:
            return None
        campaign_id: int = campaign.id
    # Two beats may both get the same fresh draft; only one of them starts it.
    return campaign_id if start_and_enqueue(app, runtime, campaign_id).started else None
