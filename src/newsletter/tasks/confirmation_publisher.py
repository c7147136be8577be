"""The confirmations a web process owes, published to the urgent queue a few at a time.

Publishing one Celery task per subscribe request cost the web process ~0.5 ms of CPU, a
quarter of its work per request (docs/benchmarks.md, "Subscribe endpoint"). A request
now hands its subscriber id to this publisher and returns; a thread of the process waits
`linger` seconds for the ids of other requests and publishes them all as one
`send_confirmations` task. A resident's mail leaves `linger` later (50 ms by default),
which no one can notice; the CPU saved is what lets the endpoint keep up at 300 req/s.

What happens on failure is what happened per request before: ids that could not be
published have their `confirmation_sent_at` cleared, so the next request for the address
mails at once instead of waiting CONFIRM_RESEND_HOURS. `close` (the app's lifespan)
publishes what is still waiting. An id is held in memory for at most `linger` plus one
publish: a process killed in that moment loses those confirmations, as one killed
between a request's answer and its background task always did.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from kombu.exceptions import OperationalError

from newsletter.delivery.confirmations import release_confirmations
from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import CONFIRMATIONS_PER_TASK, CeleryProducer, enqueue_confirmations

log = logging.getLogger(__name__)

LINGER_SECONDS = 0.05


class ConfirmationPublisher:
    """Collects subscriber ids and publishes them in batches from a thread of its own."""

    def __init__(
        self, producer: CeleryProducer, runtime: Runtime, *, linger: float = LINGER_SECONDS
    ) -> None:
        self._producer = producer
        self._runtime = runtime
        self._linger = linger
        self._ids: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, subscriber_id: int) -> None:
        """Queue the confirmation of a request whose transaction has committed."""
        with self._lock:
            if self._closed:
                # Shutting down: nobody will drain the queue any more.
                self._publish([subscriber_id])
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="confirmation-publisher", daemon=True
                )
                self._thread.start()
            self._ids.put(subscriber_id)

    def close(self, timeout: float = 10.0) -> None:
        """Publish what is waiting and stop the thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._ids.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._ids.get()
            if first is None:
                return
            time.sleep(self._linger)  # let the requests arriving meanwhile join this task
            batch = [first]
            while len(batch) < CONFIRMATIONS_PER_TASK:
                try:
                    item = self._ids.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._publish(batch)

    def _publish(self, subscriber_ids: list[int]) -> None:
        try:
            enqueue_confirmations(self._producer.app, subscriber_ids=subscriber_ids)
            return
        except OperationalError as exc:  # kombu's "cannot reach the broker", Redis or SQL
            log.warning("%d confirmation(s) not queued: %s", len(subscriber_ids), exc)
        except Exception:
            # Anything else must not kill the thread: every later request would lose its
            # confirmation silently. Logged with its traceback; the ids are released.
            log.exception("%d confirmation(s) not queued", len(subscriber_ids))
        release_confirmations(self._runtime, subscriber_ids=subscriber_ids)
