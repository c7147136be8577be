"""Celery app factory: queues, task names, routing, beat schedule, broker settings.

Everything every process shares, and light enough for one that only enqueues. Tasks are
thin wrappers over plain functions (tasks/jobs.py), registered by `create_celery`, so a
test builds its own app with its own settings. A process that only enqueues (the CLI, the
web) takes `create_producer`: the same configuration, no task imported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu.entity import Queue

from newsletter.config import Settings
from newsletter.delivery.lease import RECONCILE_EVERY
from newsletter.models import CampaignKind

URGENT_QUEUE = "urgent"
BULK_QUEUE = "bulk"
DEFAULT_QUEUE = "default"

# Task names are part of the stored state (messages already queued carry them): they stay.
SEND_BATCH = "newsletter.send_batch"
RECONCILE = "newsletter.reconcile"
BUILD_DIGEST = "newsletter.build_and_start_digest"
BUILD_DAILY_DIGEST = "newsletter.build_and_start_daily_digest"
POLL_FEEDS = "newsletter.poll_feeds"
POLL_BOUNCES = "newsletter.poll_bounces"
SEND_CONFIRMATION = "newsletter.send_confirmation"
SEND_CONFIRMATIONS = "newsletter.send_confirmations"  # a web process's batch of them
SEND_MANAGE_LINK = "newsletter.send_manage_link"
SEND_ADDRESS_CONFIRMATION = "newsletter.send_address_confirmation"
RETENTION = "newsletter.retention"
START_DUE_BULLETINS = "newsletter.start_due_bulletins"

# Where each task goes when its sender names no queue (send_batch always names one).
TASK_ROUTES = {
    RECONCILE: {"queue": DEFAULT_QUEUE},
    BUILD_DIGEST: {"queue": DEFAULT_QUEUE},
    BUILD_DAILY_DIGEST: {"queue": DEFAULT_QUEUE},
    POLL_FEEDS: {"queue": DEFAULT_QUEUE},
    POLL_BOUNCES: {"queue": DEFAULT_QUEUE},
    SEND_CONFIRMATION: {"queue": URGENT_QUEUE},
    SEND_CONFIRMATIONS: {"queue": URGENT_QUEUE},
    SEND_MANAGE_LINK: {"queue": URGENT_QUEUE},
    SEND_ADDRESS_CONFIRMATION: {"queue": URGENT_QUEUE},
    RETENTION: {"queue": DEFAULT_QUEUE},
    # Urgent: a slow feed poll on `default` must not delay a bulletin past its minute.
    START_DUE_BULLETINS: {"queue": URGENT_QUEUE},
}

# In priority order: a worker consuming several takes urgent work first (on Redis).
QUEUES = (URGENT_QUEUE, BULK_QUEUE, DEFAULT_QUEUE)
# The queues of the processes that send mail; `default` (reconciler, digest building,
# feed and bounce polling) runs on a worker of its own, so a slow poll never holds a
# sender (docs/delivery.md "Queues").
SENDING_QUEUES = (URGENT_QUEUE, BULK_QUEUE)
BOUNCE_POLL_EVERY = timedelta(minutes=5)
# Nightly, in NEWSLETTER_TIMEZONE, when the city sleeps and no digest is due.
RETENTION_SCHEDULE = crontab(minute="30", hour="3")
DUE_BULLETINS_EVERY = timedelta(minutes=1)


class ScheduleError(ValueError):
    """NEWSLETTER_DIGEST_SCHEDULE or _DAILY_SCHEDULE is not a cron expression to use."""


def queue_for(kind: CampaignKind) -> str:
    """Bulletins and alerts go on the urgent queue and overtake digests, which go on bulk."""
    return URGENT_QUEUE if kind in (CampaignKind.BULLETIN, CampaignKind.ALERT) else BULK_QUEUE


def _crontab(name: str, value: str, example: str) -> crontab:
    try:
        return crontab.from_string(value)
    except (ValueError, IndexError) as exc:
        raise ScheduleError(
            f"NEWSLETTER_{name}={value!r} is not a cron expression "
            f'"minute hour day-of-month month day-of-week" (e.g. "{example}")'
        ) from exc


def digest_crontab(settings: Settings) -> crontab:
    """NEWSLETTER_DIGEST_SCHEDULE as beat runs it, in NEWSLETTER_TIMEZONE (the app's zone)."""
    return _crontab("DIGEST_SCHEDULE", settings.digest_schedule, "0 7 * * mon")


def daily_crontab(settings: Settings) -> crontab:
    """NEWSLETTER_DAILY_SCHEDULE as beat runs it, in NEWSLETTER_TIMEZONE."""
    return _crontab("DAILY_SCHEDULE", settings.daily_schedule, "0 17 * * *")


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """One visibility timeout, used by every place Celery reads it (broker and results).

    The embedded broker (kombu's SQLAlchemy transport) passes its options straight to
    `create_engine`, so it takes none; it polls its table once a second (kombu's
    default) and hides a message as soon as a worker takes it: a worker killed then
    loses that task, and the reconciler re-enqueues the rows (docs/delivery.md).
    """
    if settings.uses_embedded_broker:
        return {}
    # "priority": a worker polls its queues in QUEUES order, so a free process takes a
    # bulletin's batch before a digest's (kombu's default, round robin, alternates).
    options: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout,
        "queue_order_strategy": "priority",
    }
    if settings.redis_prefix:
        options["global_keyprefix"] = settings.redis_prefix
    return options


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every schedule of the service, named; crontabs run in NEWSLETTER_TIMEZONE."""
    schedule: dict[str, dict[str, Any]] = {
        "reconcile-deliveries": {
            "task": RECONCILE,
            "schedule": RECONCILE_EVERY,
            "options": {"queue": DEFAULT_QUEUE, "expires": RECONCILE_EVERY.total_seconds()},
        },
        "weekly-digest": {
            "task": BUILD_DIGEST,
            "schedule": digest_crontab(settings),
            "options": {"queue": DEFAULT_QUEUE},
        },
        "daily-digest": {
            "task": BUILD_DAILY_DIGEST,
            "schedule": daily_crontab(settings),
            "options": {"queue": DEFAULT_QUEUE},
        },
        "start-due-bulletins": {
            "task": START_DUE_BULLETINS,
            "schedule": DUE_BULLETINS_EVERY,
            "options": {"queue": URGENT_QUEUE, "expires": DUE_BULLETINS_EVERY.total_seconds()},
        },
        "poll-feeds": {
            "task": POLL_FEEDS,
            "schedule": timedelta(minutes=settings.feed_poll_minutes),
            "options": {"queue": DEFAULT_QUEUE, "expires": settings.feed_poll_minutes * 60},
        },
        "retention": {
            "task": RETENTION,
            "schedule": RETENTION_SCHEDULE,
            "options": {"queue": DEFAULT_QUEUE, "expires": 6 * 3600},
        },
    }
    if settings.bounce_maildir is not None:
        schedule["poll-bounces"] = {
            "task": POLL_BOUNCES,
            "schedule": BOUNCE_POLL_EVERY,
            "options": {"queue": DEFAULT_QUEUE, "expires": BOUNCE_POLL_EVERY.total_seconds()},
        }
    return schedule


def create_celery(settings: Settings) -> Celery:
    """The app of a worker or beat, or of a long-lived producer: every task registered."""
    # Imported here: the task bodies pull in feeds, bounce intake, confirmation and
    # sending, which a process that only enqueues (create_producer) never needs.
    from newsletter.tasks.jobs import register_tasks

    app = create_producer(settings)
    _register_tasks(app)
    register_tasks(app, settings)
    return app


def create_producer(settings: Settings) -> Celery:
    """An app that only sends tasks by name (the CLI): configured as a worker's, no tasks.

    `send_task` needs no registered task; routes and queues come from the configuration.
    Close it after use.
    """
    broker_file = settings.embedded_broker_file
    if broker_file is not None:
        # kombu's SQLite transport creates its file, not the folder around it.
        broker_file.parent.mkdir(parents=True, exist_ok=True)
    app = Celery("newsletter", broker=settings.broker_url, set_as_current=False)
    transport_options = broker_transport_options(settings)
    app.conf.update(
        broker_transport_options=transport_options,
        # Unused while results are off, but a result backend on Redis would read its own
        # copy of the visibility timeout: keep the two equal.
        result_backend_transport_options=transport_options,
        result_backend=None,
        task_ignore_result=True,
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_default_queue=DEFAULT_QUEUE,
        task_default_routing_key=DEFAULT_QUEUE,
        task_routes=TASK_ROUTES,
        # Send tasks are idempotent (the ledger claims rows), so a task whose worker died
        # is redelivered rather than lost; one task at a time per process keeps a long
        # digest batch from holding a bulletin's task hostage in a prefetch buffer.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone=settings.timezone,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(settings),
    )
    app.conf["newsletter_settings"] = settings
    return app


def _register_tasks(app: Celery) -> None:
    @app.task(name="newsletter.ping", shared=False)
    def ping() -> str:
        return "pong"
