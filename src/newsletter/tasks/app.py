"""Celery app factory: queues, routing, beat schedule and the broker settings every process shares.

Tasks are thin wrappers over plain functions (see STYLE.md); they are registered by
`create_celery`, so a test builds its own app with its own settings. A process that only
enqueues (the CLI) takes `create_producer`: the same configuration, no task imported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from kombu.entity import Queue

from newsletter.config import Settings
from newsletter.tasks.enqueue import (
    BUILD_DIGEST,
    BULK_QUEUE,
    DEFAULT_QUEUE,
    POLL_BOUNCES,
    POLL_FEEDS,
    RECONCILE,
    TASK_ROUTES,
    URGENT_QUEUE,
)
from newsletter.tasks.schedule import digest_crontab

QUEUES = (URGENT_QUEUE, BULK_QUEUE, DEFAULT_QUEUE)
RECONCILE_EVERY = timedelta(minutes=1)
BOUNCE_POLL_EVERY = timedelta(minutes=5)

__all__ = [
    "BULK_QUEUE",
    "DEFAULT_QUEUE",
    "QUEUES",
    "URGENT_QUEUE",
    "create_celery",
    "create_producer",
]


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """One visibility timeout, used by every place Celery reads it (broker and results).

    The embedded broker (kombu's SQLAlchemy transport) passes its options straight to
    `create_engine`, so it takes none; it polls its table once a second (kombu's
    default) and hides a message as soon as a worker takes it: a worker killed then
    loses that task, and the reconciler re-enqueues the rows (docs/delivery.md).
    """
    if settings.uses_embedded_broker:
        return {}
    options: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout}
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
        "poll-feeds": {
            "task": POLL_FEEDS,
            "schedule": timedelta(minutes=settings.feed_poll_minutes),
            "options": {"queue": DEFAULT_QUEUE, "expires": settings.feed_poll_minutes * 60},
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
