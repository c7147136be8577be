"""The Celery app the factory builds: queues, acknowledgement, timeouts and the beat schedule."""

from __future__ import annotations

import datetime as dt
import mailbox
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from celery.schedules import crontab

from newsletter.config import Settings
from newsletter.delivery.confirmations import send_confirmation, send_confirmations
from newsletter.delivery.transport import RetryLaterError, SMTPTransport, open_transport
from newsletter.models import Delivery, DeliveryStatus, Subscriber, SubscriberStatus
from newsletter.runtime import build_runtime
from newsletter.subscribers.suppression import is_suppressed
from newsletter.tasks.app import (
    POLL_FEEDS,
    SEND_BATCH,
    SEND_CONFIRMATION,
    SEND_CONFIRMATIONS,
    broker_transport_options,
    create_celery,
)
from newsletter.tasks.jobs import retry_backoff_max
from tests.bounce_samples import sample
from tests.support.ledger import add_campaign, add_subscribers
from tests.support.smtp import SMTPServer


def test_send_tasks_ack_late_and_retry_inside_the_visibility_timeout(
    settings_factory: Callable[..., Settings],
) -> None:
    """Batches are acked after running, redelivered if the worker dies, and never wait longer
    than the visibility timeout before a retry."""
    settings = settings_factory(
        broker_url="redis://127.0.0.1:6379/15", visibility_timeout=120, redis_prefix="x:"
    )
    app = create_celery(settings)
    try:
        task = app.tasks[SEND_BATCH]
        assert (task.acks_late, task.reject_on_worker_lost) == (True, True)
        assert task.retry_backoff_max == retry_backoff_max(settings) == 60
        assert app.conf.worker_prefetch_multiplier == 1
        assert app.conf.broker_transport_options == {
            "visibility_timeout": 120,
            "queue_order_strategy": "priority",
            "global_keyprefix": "x:",
        }
    finally:
        app.close()


def test_embedded_broker_gets_no_engine_options(settings_factory: Callable[..., Settings]) -> None:
    """kombu's SQLAlchemy transport passes its options to create_engine, so none are given."""
    assert broker_transport_options(settings_factory()) == {}


def test_beat_runs_the_digest_on_the_configured_cron_in_the_local_timezone(
    settings_factory: Callable[..., Settings],
) -> None:
    """The weekly digest entry follows DIGEST_SCHEDULE, evaluated in TIMEZONE; the reconciler
    runs every 5 seconds (a dead worker's rows resent within a minute)."""
    settings = settings_factory(digest_schedule="30 6 * * fri", timezone="Asia/Ho_Chi_Minh")
    app = create_celery(settings)
    try:
        schedule = app.conf.beat_schedule
        digest = schedule["weekly-digest"]["schedule"]
        assert isinstance(digest, crontab)
        assert (digest.minute, digest.hour, digest.day_of_week) == ({30}, {6}, {5})
        assert str(app.timezone) == "Asia/Ho_Chi_Minh"
        assert schedule["reconcile-deliveries"]["schedule"].total_seconds() == 5
        assert schedule["poll-feeds"]["task"] == "newsletter.poll_feeds"
        assert "poll-bounces" not in schedule  # no bounce mailbox configured
    finally:
        app.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_bounce_mailbox_is_polled_by_beat_and_its_task_applies_bounces(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """With BOUNCE_MAILDIR set, beat polls it every 5 minutes; the task suppresses what bounced."""
    settings = settings_factory(
        database_url=database_url,
        bounce_maildir=tmp_path / "bounces",
        bounce_domain="bounce.example.gov.vn",
    )
    app = create_celery(settings)
    try:
        entry = app.conf.beat_schedule["poll-bounces"]
        assert entry["task"] == "newsletter.poll_bounces"
        assert entry["schedule"].total_seconds() == 300
        runtime = build_runtime(settings)
        with runtime.sessions.begin() as s:
            [subscriber_id] = add_subscribers(s, 1)
            campaign_id = add_campaign(s)
            delivery_row = Delivery(
                campaign_id=campaign_id, subscriber_id=subscriber_id, status=DeliveryStatus.SENT
            )
            s.add(delivery_row)
            s.flush()
            delivery_id = delivery_row.id
        box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
        box.add(sample("postfix_hard", settings, delivery_id=delivery_id))
        box.close()
        assert app.tasks["newsletter.poll_bounces"].run() == 1
        with runtime.sessions() as s:
            assert is_suppressed(s, "dan00000@example.vn")
        runtime.close()
    finally:
        app.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_confirmation_task_mails_pending_subscribers_and_retries_4xx(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> None:
    """Only a pending subscriber is mailed (address read at run time); a 4xx asks for a retry."""
    runtime = build_runtime(settings_factory(database_url=database_url, smtp_url=smtp_server.url))
    try:
        with runtime.sessions.begin() as s:
            [pending] = add_subscribers(s, 1, status=SubscriberStatus.PENDING)
            [active] = add_subscribers(s, 1, prefix="da", status=SubscriberStatus.ACTIVE)
        assert send_confirmation(runtime, subscriber_id=pending) is True
        assert send_confirmation(runtime, subscriber_id=active) is False
        assert send_confirmation(runtime, subscriber_id=10**6) is False
        smtp_server.refuse("dan00000@example.vn", "451 4.3.0 try again later")
        with pytest.raises(RetryLaterError):
            send_confirmation(runtime, subscriber_id=pending)
    finally:
        runtime.close()
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["dan00000@example.vn"]
    assert "/confirm/" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_confirmations_of_one_worker_share_one_connection(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> None:
    """A worker's confirmations reuse its SMTP connection, and survive the relay dropping it."""
    runtime = build_runtime(settings_factory(database_url=database_url, smtp_url=smtp_server.url))
    transport = open_transport(smtp_server.url)
    assert isinstance(transport, SMTPTransport)
    try:
        with runtime.sessions.begin() as s:
            pending = add_subscribers(s, 4, status=SubscriberStatus.PENDING)
        for subscriber_id in pending[:3]:
            assert send_confirmation(runtime, subscriber_id=subscriber_id, transport=transport)
        assert transport._conn is not None
        transport._conn.sock.shutdown(socket.SHUT_RDWR)  # as if the relay had dropped it
        assert send_confirmation(runtime, subscriber_id=pending[3], transport=transport)
    finally:
        transport.close()
        runtime.close()
    assert len(smtp_server.wait_for(4)) == 4
    assert smtp_server.connections == 2


def test_each_app_keeps_its_own_tasks(settings_factory: Callable[..., Settings]) -> None:
    """Two apps built in one process (tests, CLI) do not share tasks bound to other settings."""
    first = create_celery(settings_factory(send_rate=1))
    second = create_celery(settings_factory(send_rate=2))
    try:
        assert first.tasks[SEND_BATCH] is not second.tasks[SEND_BATCH]
        assert second.tasks[SEND_BATCH].app is second
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_confirmation_given_up_can_be_asked_again_at_once(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """When the confirmation task fails for good, the resend window is cleared."""
    settings = settings_factory(database_url=database_url)
    app = create_celery(settings)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            [pending] = add_subscribers(s, 1, status=SubscriberStatus.PENDING)
            s.get(Subscriber, pending).confirmation_sent_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
        task = app.tasks[SEND_CONFIRMATION]
        task.on_failure(RetryLaterError("451 still busy"), "task-id", (pending,), {}, None)
        with runtime.sessions() as s:
            assert s.get(Subscriber, pending).confirmation_sent_at is None  # type: ignore[union-attr]
    finally:
        runtime.close()
        app.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_batch_of_confirmations_mails_each_once_and_retries_a_4xx_alone(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> None:
    """A web process's batch: every pending resident mailed once, a 4xx handed on alone."""
    runtime = build_runtime(settings_factory(database_url=database_url, smtp_url=smtp_server.url))
    retried: list[int] = []
    try:
        with runtime.sessions.begin() as s:
            pending = add_subscribers(s, 3, status=SubscriberStatus.PENDING)
            [active] = add_subscribers(s, 1, prefix="da", status=SubscriberStatus.ACTIVE)
        smtp_server.refuse("dan00001@example.vn", "451 4.3.0 try again later")
        mailed = send_confirmations(
            runtime,
            subscriber_ids=[*pending, active],
            transport=None,
            retry_alone=retried.append,
        )
    finally:
        runtime.close()
    assert (mailed, retried) == (2, [pending[1]])
    received = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in received) == ["dan00000@example.vn", "dan00002@example.vn"]


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_a_batch_given_up_releases_every_address(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """The batch task is never retried whole (it would mail twice) and, failing, releases all."""
    settings = settings_factory(database_url=database_url)
    app = create_celery(settings)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            pending = add_subscribers(s, 2, status=SubscriberStatus.PENDING)
            for subscriber_id in pending:
                s.get(Subscriber, subscriber_id).confirmation_sent_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
        task = app.tasks[SEND_CONFIRMATIONS]
        assert task.acks_late
        assert not getattr(task, "autoretry_for", ())
        assert app.tasks[SEND_CONFIRMATION].autoretry_for  # each one alone does retry
        task.on_failure(RuntimeError("database gone"), "task-id", (pending,), {}, None)
        with runtime.sessions() as s:
            assert [s.get(Subscriber, i).confirmation_sent_at for i in pending] == [None, None]  # type: ignore[union-attr]
    finally:
        runtime.close()
        app.close()


def test_feed_poll_task_has_time_limits(settings_factory: Callable[..., Settings]) -> None:
    """The poll task carries Celery soft and hard time limits tied to the polling interval."""
    app = create_celery(settings_factory(feed_poll_minutes=15))
    task = app.tasks[POLL_FEEDS]
    assert (task.soft_time_limit, task.time_limit) == (900.0, 930.0)
