"""Celery tasks: thin wrappers over plain functions, each safe to run twice.

A task unpacks its arguments, takes the process's runtime, send budget or transport, and
calls the function that does the work (the send loop in delivery/batch.py, the campaign
start in tasks/enqueue.py, confirmations in delivery/confirmations.py, feeds in
content/feeds.py, bounces in bounces/intake.py); tests call those functions directly.
Registered on an app by `register_tasks(app, settings)` (called by tasks.app.create_celery),
so a test builds its own app with its own settings. Names, queues and routes: tasks/app.py.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery, Task
from jinja2 import TemplateError
from kombu.connection import Connection
from sqlalchemy.orm import configure_mappers

from newsletter.bounces.intake import poll_bounce_mailbox
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.content.feeds import poll_all_feeds
from newsletter.delivery import ledger
from newsletter.delivery.batch import YIELDED, send_batch
from newsletter.delivery.budget import FileBudget, RedisBudget, open_budget
from newsletter.delivery.confirmations import (
    confirmation_gave_up,
    send_confirmation,
    send_confirmations,
)
from newsletter.delivery.resident_mail import send_address_confirmation, send_manage_link
from newsletter.delivery.retention import run_retention
from newsletter.delivery.transport import (
    MaildirTransport,
    RetryLaterError,
    SMTPTransport,
    open_transport,
)
from newsletter.mail.composer import warm_up as compose_warm_up
from newsletter.models import Frequency
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import (
    BUILD_DAILY_DIGEST,
    BUILD_DIGEST,
    BULK_QUEUE,
    POLL_BOUNCES,
    POLL_FEEDS,
    RECONCILE,
    RETENTION,
    SEND_ADDRESS_CONFIRMATION,
    SEND_BATCH,
    SEND_CONFIRMATION,
    SEND_CONFIRMATIONS,
    SEND_MANAGE_LINK,
    START_DUE_BULLETINS,
    URGENT_QUEUE,
)
from newsletter.tasks.enqueue import (
    build_and_start_digest,
    enqueue_confirmation,
    reconcile_and_enqueue,
    start_alerts,
    start_due_bulletins,
)

log = logging.getLogger(__name__)

# Retries of a batch whose rows failed temporarily: 2 s, 4 s, … capped at 5 minutes and
# at half the broker's visibility timeout (an ETA longer than it is delivered twice).
RETRY_BACKOFF_MAX = 300


# A digest batch asks the broker at most this often whether urgent work waits: a chunk
# takes ~0.1 s at full speed, so a bulletin finds a free process well within a second.
URGENT_CHECK_EVERY = 0.25


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
        self._broker: Connection | None = None
        self._urgent_checked = 0.0

    def _check_pid(self) -> None:
        if self._pid != os.getpid():  # a forked child must not share its parent's sockets
            self._pid = os.getpid()
            self._runtime = None
            self._budget = None
            self._confirmations = None
            self._broker = None

    def urgent_waiting(self, app: Celery) -> bool:
        """True when the urgent queue holds a task no process has taken yet.

        One broker round trip (LLEN on Redis) every URGENT_CHECK_EVERY at most. A broker
        that cannot answer says "no": the digest goes on, and the bulletin's task is taken
        when this batch ends, as it would be without yielding.
        """
        self._check_pid()
        now = time.monotonic()
        if now - self._urgent_checked < URGENT_CHECK_EVERY:
            return False
        self._urgent_checked = now
        try:
            if self._broker is None:
                self._broker = app.connection_for_read()
            # Not passive: kombu's passive check misses queues under a global_keyprefix;
            # declaring an existing queue changes nothing, on Redis or the embedded broker.
            declared = self._broker.default_channel.queue_declare(queue=URGENT_QUEUE)
        except Exception as exc:  # the broker is away: go on with the digest
            log.warning("could not ask the broker for urgent work: %s", exc)
            self._broker = None
            return False
        return bool(declared.message_count)

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


def poll_time_limits(settings: Settings) -> dict[str, float]:
    """Celery time limits of a feed poll: a round must end before the next one is due.

    Each fetch has its own deadline (NEWSLETTER_FEED_TIMEOUT_SECONDS); these limits catch
    what it does not bound (a name server that never answers, a parser stuck on a feed).
    The soft limit raises in the task; the hard one, 30 s later, replaces the process.
    """
    soft = settings.feed_poll_minutes * 60.0
    return {"soft_time_limit": soft, "time_limit": soft + 30.0}


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
        "max_retries": ledger.MAX_ATTEMPTS,
    }

    def takes_urgent_work() -> bool:
        # The queues this worker consumes (`--queues`): a digest batch yields only where
        # the freed process can take the bulletin's batch next.
        consumed = app.amqp.queues.consume_from or app.amqp.queues
        return URGENT_QUEUE in consumed

    @app.task(name=SEND_BATCH, bind=True, **sending_options)
    def send_batch_task(
        task: Task, campaign_id: int, first_id: int, last_id: int
    ) -> dict[str, Any]:
        queue = (task.request.delivery_info or {}).get("routing_key")
        yields = queue == BULK_QUEUE and takes_urgent_work()
        outcome = send_batch(
            state.runtime,
            state.budget,
            composer_for=composer_for,
            campaign_id=campaign_id,
            first_id=first_id,
            last_id=last_id,
            should_yield=(lambda: state.urgent_waiting(app)) if yields else None,
        )
        if outcome.stopped == YIELDED:
            # The rest of the range goes back to the bulk queue; this process takes the
            # urgent task (the broker hands queues out in priority order, tasks/app.py).
            app.send_task(SEND_BATCH, args=[campaign_id, first_id, last_id], queue=BULK_QUEUE)
        return {"sent": outcome.sent, "failed": outcome.failed, "skipped": outcome.skipped}

    @app.task(name=RECONCILE, shared=False)
    def reconcile_task() -> int:
        return reconcile_and_enqueue(app, state.runtime)

    @app.task(name=START_DUE_BULLETINS, shared=False)
    def start_due_bulletins_task() -> int:
        return start_due_bulletins(app, state.runtime)

    @app.task(name=BUILD_DIGEST, shared=False)
    def build_digest_task() -> int | None:
        return build_and_start_digest(app, state.runtime)

    @app.task(name=BUILD_DAILY_DIGEST, shared=False)
    def build_daily_digest_task() -> int | None:
        return build_and_start_digest(app, state.runtime, frequency=Frequency.DAILY)

    @app.task(name=POLL_FEEDS, shared=False, **poll_time_limits(settings))
    def poll_feeds_task() -> None:
        poll_all_feeds(state.runtime)
        # Each feed's new articles (one arrival batch) make one alert; the reconciler
        # makes any this misses.
        start_alerts(app, state.runtime)

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

    # A resident's own request, one mail each, retried like a confirmation; if every retry
    # fails the resident simply asks again (the resend windows are minutes).
    @app.task(name=SEND_MANAGE_LINK, **sending_options)
    def send_manage_link_task(subscriber_id: int) -> bool:
        return send_manage_link(
            state.runtime, subscriber_id=subscriber_id, transport=state.confirmations
        )

    @app.task(name=SEND_ADDRESS_CONFIRMATION, **sending_options)
    def send_address_confirmation_task(subscriber_id: int) -> bool:
        return send_address_confirmation(
            state.runtime, subscriber_id=subscriber_id, transport=state.confirmations
        )

    @app.task(name=RETENTION, shared=False)
    def retention_task() -> int:
        return run_retention(state.runtime.sessions, days=settings.retention_days).total
