"""After a push to POST /api/v1/articles: start the alert of its arrival batch.

Run as a background task, so after the route's transaction committed (deps.get_session)
and after the answer left: the CMS never waits for the broker. A broker that is away
loses nothing: the batch stays unalerted and the reconciler starts its alert
(docs/delivery.md "Frequencies").
"""

from __future__ import annotations

import logging

from fastapi import BackgroundTasks, Request
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError

from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import CeleryProducer, start_alerts

log = logging.getLogger(__name__)


def alert_after_commit(request: Request, background: BackgroundTasks) -> None:
    producer: CeleryProducer = request.app.state.celery
    runtime: Runtime = request.app.state.runtime
    background.add_task(_start_alerts, producer, runtime)


def _start_alerts(producer: CeleryProducer, runtime: Runtime) -> None:
    try:
        start_alerts(producer.app, runtime)
    except (OperationalError, SQLAlchemyError) as exc:
        log.warning("alert not started now (the reconciler will): %s", exc)
