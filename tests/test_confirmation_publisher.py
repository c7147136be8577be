"""The web process's confirmation publisher: batches on the urgent queue, releases on failure."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import pytest
import redis

from newsletter.config import Settings
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.runtime import build_runtime
from newsletter.tasks.app import SEND_CONFIRMATIONS, URGENT_QUEUE
from newsletter.tasks.confirmation_publisher import ConfirmationPublisher
from newsletter.tasks.enqueue import CeleryProducer, queue_confirmations
from tests.support.ledger import add_subscribers
from tests.support.smtp import _free_port


def queued_tasks(settings: Settings, prefix: str) -> list[tuple[str, list[int]]]:
    """(task name, subscriber ids) of each task on the urgent queue, oldest first."""
    broker = redis.Redis.from_url(settings.broker_url)
    try:
        raw = broker.lrange(prefix + URGENT_QUEUE, 0, -1)
    finally:
        broker.close()
    messages = [json.loads(item) for item in reversed(raw)]  # LPUSH: newest first
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0][0]) for m in messages]


@pytest.mark.services
def test_requests_close_together_share_one_task(
    settings_factory: Callable[..., Settings], redis_url: str, redis_prefix: str
) -> None:
    """Ids submitted within the linger go out as one task; close publishes what waits."""
    settings = settings_factory(broker_url=redis_url, redis_prefix=redis_prefix)
    producer = CeleryProducer(settings)
    runtime = build_runtime(settings)
    publisher = ConfirmationPublisher(producer, runtime, linger=0.5)
    try:
        for subscriber_id in (11, 12, 13):
            publisher.submit(subscriber_id)
        publisher.close()  # within the linger: the batch is published on the way out
        publisher.submit(14)  # after close: published at once, alone
        assert queued_tasks(settings, redis_prefix) == [
            (SEND_CONFIRMATIONS, [11, 12, 13]),
            (SEND_CONFIRMATIONS, [14]),
        ]
    finally:
        producer.close()
        runtime.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_ids_that_cannot_be_queued_are_released(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """Broker unreachable: each address's resend window is cleared, so asking again mails."""
    settings = settings_factory(
        database_url=database_url, broker_url=f"redis://127.0.0.1:{_free_port()}/0"
    )
    runtime = build_runtime(settings)
    producer = CeleryProducer(settings)
    publisher = ConfirmationPublisher(producer, runtime, linger=0.01)
    try:
        with runtime.sessions.begin() as s:
            pending = add_subscribers(s, 2, status=SubscriberStatus.PENDING)
            for subscriber_id in pending:
                s.get(Subscriber, subscriber_id).confirmation_sent_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
        for subscriber_id in pending:
            publisher.submit(subscriber_id)
        publisher.close(timeout=60)
        with runtime.sessions() as s:
            assert [s.get(Subscriber, i).confirmation_sent_at for i in pending] == [None, None]  # type: ignore[union-attr]
    finally:
        producer.close()
        runtime.close()


@pytest.mark.services
def test_an_import_queues_its_confirmations_a_hundred_per_task(
    settings_factory: Callable[..., Settings], redis_url: str, redis_prefix: str
) -> None:
    """dispatch.queue_confirmations (admin and CLI imports): 250 ids → tasks of 100, 100
    and 50, in order, each id once."""
    settings = settings_factory(broker_url=redis_url, redis_prefix=redis_prefix)
    producer = CeleryProducer(settings)
    runtime = build_runtime(settings)
    try:
        ids = list(range(1000, 1250))
        assert queue_confirmations(producer.app, runtime, subscriber_ids=ids) == 0
        tasks = queued_tasks(settings, redis_prefix)
        assert [name for name, _ in tasks] == [SEND_CONFIRMATIONS] * 3
        assert [len(batch) for _, batch in tasks] == [100, 100, 50]
        assert [i for _, batch in tasks for i in batch] == ids
    finally:
        producer.close()
        runtime.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_an_import_releases_what_it_could_not_queue(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """Broker unreachable during an import: the count is returned and each imported
    address's resend window is cleared, so the resident's own request mails at once."""
    settings = settings_factory(
        database_url=database_url, broker_url=f"redis://127.0.0.1:{_free_port()}/0"
    )
    runtime = build_runtime(settings)
    producer = CeleryProducer(settings)
    try:
        with runtime.sessions.begin() as s:
            pending = add_subscribers(s, 3, status=SubscriberStatus.PENDING)
            for subscriber_id in pending:
                s.get(Subscriber, subscriber_id).confirmation_sent_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
        assert queue_confirmations(producer.app, runtime, subscriber_ids=pending) == 3
        with runtime.sessions() as s:
            assert [s.get(Subscriber, i).confirmation_sent_at for i in pending] == [None] * 3  # type: ignore[union-attr]
    finally:
        producer.close()
        runtime.close()
