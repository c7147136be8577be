"""Celery app factory: queues, routing and the broker settings every process shares.

Tasks are thin wrappers over plain functions (see STYLE.md); they are registered by
`create_celery`, so a test builds its own app with its own settings.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue

from newsletter.config import Settings

URGENT_QUEUE = "urgent"
BULK_QUEUE = "bulk"
DEFAULT_QUEUE = "default"
QUEUES = (URGENT_QUEUE, BULK_QUEUE, DEFAULT_QUEUE)


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """One visibility timeout, used by every place Celery reads it (broker and results)."""
    if settings.uses_embedded_broker:
        return {}
    return {"visibility_timeout": settings.visibility_timeout}


def create_celery(settings: Settings) -> Celery:
    app = Celery("newsletter", broker=settings.broker_url, set_as_current=False)
    transport_options = broker_transport_options(settings)
    app.conf.update(
        broker_transport_options=transport_options,
        result_backend=None,
        task_ignore_result=True,
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_default_queue=DEFAULT_QUEUE,
        task_default_routing_key=DEFAULT_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone=settings.timezone,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={},
    )
    app.conf["newsletter_settings"] = settings
    _register_tasks(app)
    return app


def _register_tasks(app: Celery) -> None:
    @app.task(name="newsletter.ping", queue=DEFAULT_QUEUE)
    def ping() -> str:
        return "pong"
