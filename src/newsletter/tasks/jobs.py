"""Celery tasks: thin wrappers over delivery.py, sending.py and schedule.py.

Queue and task names and the enqueue helpers live in enqueue.py (light enough for the CLI).

Registered on an app by `register_tasks(app, settings)` (called by worker.create_celery),
so a test builds its own app with its own settings. Every task is safe to run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

from celery import Celery
from jinja2 import TemplateError
from sqlalchemy.orm import configure_mappers

from newsletter.bounces.intake import poll_bounce_mailbox
from newsletter.config import Settings
from newsletter.content.feeds import poll_all_feeds
from newsletter.delivery import ledger as delivery
from newsletter.delivery.batch import RetryLaterError, send_batch
from newsletter.delivery.budget import FileBudget, RedisBudget, open_budget
from newsletter.delivery.transport import (
    DeliveryError,
    MaildirTransport,
    SMTPTransport,
    Transport,
    open_transport,
)
from newsletter.mail.composer import warm_up as compose_warm_up
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.subscribers.confirmation import send_confirmation as mail_confirmation
from newsletter.tasks.dispatch import release_confirmations
from newsletter.tasks.enqueue import (
    BUILD_DIGEST,
    BULK_QUEUE,
    DEFAULT_QUEUE,
    POLL_BOUNCES,
    POLL_FEEDS,
    RECONCILE,
    SEND_BATCH,
    SEND_CONFIRMATION,
    SEND_CONFIRMATIONS,
    TASK_ROUTES,
    URGENT_QUEUE,
    build_and_start_digest,
    enqueue,
    enqueue_confirmation,
    queue_for,
    start_and_enqueue,
)

# The names enqueue.py defines stay importable from here, where the tasks live.
__all__ = [
    "BUILD_DIGEST",
    "BULK_QUEUE",
    "DEFAULT_QUEUE",
    "POLL_BOUNCES",
    "POLL_FEEDS",
    "RECONCILE",
    "SEND_BATCH",
    "SEND_CONFIRMATION",
    "SEND_CONFIRMATIONS",
    "TASK_ROUTES",
    "URGENT_QUEUE",
    "build_and_start_digest",
    "confirmation_gave_up",
    "enqueue",
    "queue_for",
    "reconcile_and_enqueue",
    "register_tasks",
    "retry_backoff_max",
    "send_confirmation",
    "send_confirmations",
    "start_and_enqueue",
    "warm_up",
]

log = logging.getLogger(__name__)

# Retries of a batch whose rows failed temporarily: 2 s, 4 s, … capped at 5 minutes and
# at half the broker's visibility timeout (an ETA longer than it is delivered twice).
RETRY_BACKOFF_MAX = 300


def retry_backoff_max(settings: Settings) -> int:
    return min(RETRY_BACKOFF_MAX, settings.visibility_timeout // 2)


class ProcessState:
    """The runtime and send budget of one worker process, built after the fork."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = 0
        self._runtime: Runtime | None = None
        self._budget: RedisBudget | FileBudget | None = None
        self._confirmations: MaildirTransport | SMTPTransport | None = None

    def _check_pid(self) -> None:
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._pid = os.getpid()
            self._runtime = None
            self._budget = None
            self._confirmations = None

    @property
    def runtime(self) -> Runtime:
        self._check_pid()
        if self._runtime is None:
            self._runtime = build_runtime(self.settings)
        return self._runtime

    @property
    def budget(self) -> RedisBudget | FileBudget:
        self._check_pid()
        if self._budget is None:
            self._budget = open_budget(self.settings)
        return self._budget

    @property
    def confirmations(self) -> MaildirTransport | SMTPTransport:
        """One transport per process for confirmation mails, reopened after a drop."""
        self._check_pid()
        if self._confirmations is None:
            self._confirmations = open_transport(self.settings.smtp_url)
        return self._confirmations


def warm_up(settings: Settings) -> None:
    """Before a worker forks its pool: what each pool process paid on its first batch.

    The ORM's mapper configuration, the compiled e-mail templates and the parsed DKIM key
    are cached per process; made once here, every pool process inherits them, and an
    urgent bulletin's first message no longer waits for them (docs/benchmarks.md). No
    connection is opened: a forked process must not share its parent's sockets. Best
    effort: a broken template or key is logged here and met again, and handled as it
    always was (the campaign is paused), by the first batch.
    """
    configure_mappers()
    try:
        compose_warm_up(settings)
    except (TemplateError, ValueError, OSError) as exc:  # DkimConfigError is a ValueError
        log.warning("worker warm-up incomplete: %s", exc)


def reconcile_and_enqueue(
    app: Celery,
    runtime: Runtime,
    *,
    lease: dt.timedelta = delivery.LEASE,
    stall: dt.timedelta = delivery.STALL,
) -> int:
    """Run the reconciler and enqueue what it found; returns how many batches."""
    with runtime.sessions.begin() as session:
        works = delivery.reconcile(
            session, lease=lease, stall=stall, batch_size=runtime.settings.batch_size
        )
    return enqueue(app, works)


def register_tasks(app: Celery, settings: Settings) -> None:
    state = ProcessState(settings)
    # Tasks that send mail: redelivered if their worker dies (they are idempotent), and
    # retried with backoff on a temporary refusal, within the visibility timeout.
    # shared=False (here and below): the task belongs to this app only. A shared task
    # would be copied into every app created later in the process, with this app's settings.
    sending_options: dict[str, Any] = {
        "shared": False,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": (RetryLaterError,),
        "retry_backoff": 2,
        "retry_backoff_max": retry_backoff_max(settings),
        "retry_jitter": True,
        "max_retries": delivery.MAX_ATTEMPTS,
    }

    @app.task(name=SEND_BATCH, **sending_options)
    def send_batch_task(campaign_id: int, first_id: int, last_id: int) -> dict[str, Any]:
        outcome = send_batch(
            state.runtime,
            state.budget,
            campaign_id=campaign_id,
            first_id=first_id,
            last_id=last_id,
        )
        return {"sent": outcome.sent, "failed": outcome.failed, "skipped": outcome.skipped}

    @app.task(name=RECONCILE, shared=False)
    def reconcile_task() -> int:
        return reconcile_and_enqueue(app, state.runtime)

    @app.task(name=BUILD_DIGEST, shared=False)
    def build_digest_task() -> int | None:
        return build_and_start_digest(app, state.runtime)

    @app.task(name=POLL_FEEDS, shared=False)
    def poll_feeds_task() -> None:
        poll_all_feeds(state.runtime)

    @app.task(name=POLL_BOUNCES, shared=False)
    def poll_bounces_task() -> int:
        summary = poll_bounce_mailbox(state.runtime)
        return summary.processed if summary else 0

    @app.task(
        name=SEND_CONFIRMATION,
        **sending_options,
        on_failure=lambda _task, _exc, _task_id, args, _kwargs, _einfo: confirmation_gave_up(
            state.runtime, subscriber_ids=[args[0]]
        ),
    )
    def send_confirmation_task(subscriber_id: int) -> bool:
        return send_confirmation(
            state.runtime, subscriber_id=subscriber_id, transport=state.confirmations
        )

    def retry_alone(subscriber_id: int) -> None:
        enqueue_confirmation(app, subscriber_id=subscriber_id)

    def batch_gave_up(*failure: Any) -> None:
        # Celery's on_failure(task, exc, task_id, args, kwargs, einfo): release them all,
        # so each resident's next request mails at once.
        confirmation_gave_up(state.runtime, subscriber_ids=failure[3][0])

    # No retries of the batch itself: a retry would mail its first residents again. An
    # address that failed temporarily goes on as a task of its own, with the retries above.
    @app.task(
        name=SEND_CONFIRMATIONS,
        shared=False,
        acks_late=True,
        reject_on_worker_lost=True,
        on_failure=batch_gave_up,
    )
    def send_confirmations_task(subscriber_ids: list[int]) -> int:
        return send_confirmations(
            state.runtime,
            subscriber_ids=subscriber_ids,
            transport=state.confirmations,
            retry_alone=retry_alone,
        )


def confirmation_gave_up(runtime: Runtime, *, subscriber_ids: list[int]) -> None:
    """The confirmations could not be sent after every retry: let each resident's next
    request mail at once instead of waiting CONFIRM_RESEND_HOURS."""
    log.warning("confirmation to subscriber(s) %s given up after retries", subscriber_ids)
    release_confirmations(runtime, subscriber_ids=subscriber_ids)


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


def send_confirmation(
    runtime: Runtime, *, subscriber_id: int, transport: Transport | None = None
) -> bool:
    """Mail a pending subscriber's confirmation; False when there is no one to confirm.

    The address is read at run time, so an erasure between the request and the task
    wins. A temporary refusal raises RetryLaterError (the task retries with backoff).
    """
    with runtime.sessions() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None or subscriber.status is not SubscriberStatus.PENDING:
            return False
        email = subscriber.email
    try:
        mail_confirmation(
            runtime.settings, subscriber_id=subscriber_id, email=email, transport=transport
        )
    except DeliveryError as exc:
        if exc.permanent:
            log.warning("confirmation to subscriber %s refused: %s", subscriber_id, exc)
            return False
        raise RetryLaterError(f"confirmation to subscriber {subscriber_id}: {exc}") from exc
    return True
