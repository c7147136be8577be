"""The ledger in-process on both databases: who gets a campaign, once; failures; control."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import delete, func, select, update

from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.audience import count_eligible, start_campaign
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.delivery import claims, lease
from newsletter.delivery import ledger as delivery
from newsletter.delivery.batch import YIELDED, send_batch
from newsletter.delivery.budget import open_budget
from newsletter.delivery.transport import RetryLaterError
from newsletter.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    subscriber_categories,
    utcnow,
)
from newsletter.runtime import Runtime, build_runtime
from newsletter.subscribers.addresses import legacy_hash, suppression_text
from newsletter.subscribers.suppression import is_suppressed, suppress
from tests.support.ledger import add_campaign, add_category, add_subscribers, ledger
from tests.support.smtp import SMTPServer


@pytest.fixture
def runtime(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Iterator[Runtime]:
    rt = build_runtime(
        settings_factory(database_url=database_url, smtp_url=smtp_server.url, send_rate=1000)
    )
    yield rt
    rt.close()


def send_all(runtime: Runtime, work: delivery.Work) -> None:
    budget = open_budget(runtime.settings)
    for first, last in work.ranges:
        send_batch(
            runtime,
            budget,
            composer_for=composer_for,
            campaign_id=work.campaign_id,
            first_id=first,
            last_id=last,
        )


def test_only_active_subscribers_in_target_categories_are_queued(runtime: Runtime) -> None:
    """A campaign reaches active subscribers sharing a category or with none chosen."""
    with runtime.sessions.begin() as s:
        water = add_category(s, "thong-bao", "Thông báo")
        culture = add_category(s, "van-hoa", "Văn hóa – Xã hội")
        every = add_subscribers(s, 2, prefix="moi")
        water_fans = add_subscribers(s, 2, prefix="nuoc", categories=[water])
        add_subscribers(s, 2, prefix="vanhoa", categories=[culture])
        add_subscribers(s, 2, prefix="cho", status=SubscriberStatus.PENDING)
        add_subscribers(s, 1, prefix="huy", status=SubscriberStatus.UNSUBSCRIBED)
        targeted = add_campaign(s, categories=[water])
        everyone = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=targeted, batch_size=3)
        start_campaign(s, campaign_id=everyone)
        queued = set(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == targeted))
        )
        assert queued == set(every + water_fans)
        assert ledger(s, everyone)[DeliveryStatus.QUEUED] == 6
        assert s.get(Campaign, targeted).total_count == 4  # type: ignore[union-attr]
    assert work.ranges
    assert all(first <= last for first, last in work.ranges)
    assert len(work.ranges) == 2  # 4 rows in ranges of 3


def test_a_draft_that_already_holds_rows_starts_without_duplicating_them(
    runtime: Runtime,
) -> None:
    """Starting a draft whose ledger already has a subscriber's row adds only the others."""
    with runtime.sessions.begin() as s:
        ids = add_subscribers(s, 3, prefix="san")
        campaign_id = add_campaign(s)
        s.add(Delivery(campaign_id=campaign_id, subscriber_id=ids[0],
                       status=DeliveryStatus.QUEUED, attempts=0))  # fmt: skip
    with runtime.sessions.begin() as s:
        start_campaign(s, campaign_id=campaign_id)
        rows = list(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id))
        )
    assert sorted(rows) == sorted(ids)


def test_a_batch_gives_its_connections_back_as_it_found_them(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """After a batch the pool's connections commit synchronously and in transactions again."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 5, prefix="pool")
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
    send_all(runtime, work)
    assert len(smtp_server.wait_for(5)) == 5
    with runtime.sessions.begin() as s:
        assert ledger(s, campaign_id)[DeliveryStatus.SENT] == 5
    if runtime.engine.dialect.name != "postgresql":
        return
    pooled = [runtime.engine.connect() for _ in range(runtime.engine.pool.checkedin())]
    try:
        for conn in pooled:  # every connection the batch used, the held one among them
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            conn.execute(update(Delivery).values(last_error="rolled back"))
            conn.rollback()
            assert conn.scalar(select(func.count()).where(Delivery.last_error.is_not(None))) == 0
    finally:
        for conn in pooled:
            conn.close()


def test_each_subscriber_gets_one_message_and_a_rerun_sends_nothing(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """A sent campaign has one accepted message per subscriber; starting it again is a no-op."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 30)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id, batch_size=7)
    send_all(runtime, work)
    send_all(runtime, work)  # the same tasks delivered twice by the broker
    with runtime.sessions.begin() as s:
        again = start_campaign(s, campaign_id=campaign_id)
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.status, campaign.sent_count) == (CampaignStatus.SENT, 30)
        message_ids = set(s.scalars(select(Delivery.message_id)))
    assert again.ranges == []
    received = smtp_server.wait_for(30)
    recipients = [m.rcpt_tos[0] for m in received]
    assert sorted(recipients) == sorted(set(recipients))
    assert len(recipients) == 30
    assert {m.message["Message-ID"] for m in received} == message_ids


def test_suppressed_and_unsubscribed_rows_are_skipped_at_claim(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """An address suppressed or unsubscribed after the start is skipped, not mailed, also
    when its suppression is an unkeyed row written before the hashes were keyed."""
    with runtime.sessions.begin() as s:
        ids = add_subscribers(s, 3)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
        gone = s.get(Subscriber, ids[0])
        assert gone is not None
        unkeyed = legacy_hash(suppression_text(gone.email.upper()))
        s.add(Suppression(email_hash=unkeyed, keyed=False, reason="complaint"))
        s.execute(
            update(Subscriber)
            .where(Subscriber.id == ids[1])
            .values(status=SubscriberStatus.UNSUBSCRIBED)
        )
    send_all(runtime, work)
    with runtime.sessions() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.SKIPPED: 2, DeliveryStatus.SENT: 1}
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["dan00002@example.vn"]]


def test_temporary_refusal_is_retried_and_permanent_is_not(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """4xx puts the row back in the queue (the batch asks for a retry); a 5xx refusal of the
    recipient is a hard bounce (bounced and suppressed) and is never retried."""
    with runtime.sessions.begin() as s:
        ids = add_subscribers(s, 4)
        campaign_id = add_campaign(s)
    smtp_server.refuse("dan00001@example.vn", "451 4.3.0 try again later")
    smtp_server.refuse("dan00002@example.vn", "550 5.1.1 no such user")
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
    with pytest.raises(RetryLaterError):
        send_all(runtime, work)
    smtp_server.handler.rcpt_replies.pop("dan00001@example.vn")
    send_all(runtime, work)  # the retry
    with runtime.sessions() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.SENT: 3, DeliveryStatus.BOUNCED: 1}
        failed = s.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.BOUNCED)).one()
        retried = s.scalars(select(Delivery).where(Delivery.subscriber_id == ids[1])).one()
        bounced = s.get(Subscriber, ids[2])
        assert bounced is not None
        assert (failed.subscriber_id, failed.attempts) == (ids[2], 1)
        assert failed.last_error is not None
        assert "550 5.1.1" in failed.last_error
        assert retried.attempts == 2
        assert bounced.bounce_score == 1.0
        assert bounced.status is SubscriberStatus.BOUNCED
        assert is_suppressed(s, "dan00002@example.vn")
        assert s.get(Campaign, campaign_id).status is CampaignStatus.SENT  # type: ignore[union-attr]
    delivered = sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(3))
    assert delivered == ["dan00000@example.vn", "dan00001@example.vn", "dan00003@example.vn"]


def test_a_batch_gives_way_mid_chunk_and_hands_the_untried_rows_back(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """Urgent work waiting stops a batch before its next message, even inside a claimed
    chunk: the rows not tried are `queued` again at once, and a later run sends them."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 30, prefix="nhuong")
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
    [(first, last)] = work.ranges
    asked = []

    def urgent_after_ten() -> bool:
        asked.append(1)
        return len(asked) > 10

    budget = open_budget(runtime.settings)
    outcome = send_batch(
        runtime, budget, composer_for=composer_for, campaign_id=campaign_id,
        first_id=first, last_id=last, should_yield=urgent_after_ten,
    )  # fmt: skip
    assert outcome.stopped == YIELDED
    assert 0 < outcome.sent < 30  # one chunk of 30 (send_rate 1000: chunks up to MAX_CHUNK)
    with runtime.sessions.begin() as s:
        assert ledger(s, campaign_id) == {
            DeliveryStatus.SENT: outcome.sent, DeliveryStatus.QUEUED: 30 - outcome.sent,
        }  # fmt: skip
    send_batch(runtime, budget, composer_for=composer_for, campaign_id=campaign_id,
               first_id=first, last_id=last)  # fmt: skip
    got = [m.rcpt_tos[0] for m in smtp_server.wait_for(30)]
    assert sorted(got) == sorted(set(got))
    assert len(got) == 30


def test_reconciler_requeues_expired_leases_and_stalled_campaigns(runtime: Runtime) -> None:
    """Rows left in `sending` by a dead worker return to the queue and are re-enqueued."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 5)
        campaign_id = add_campaign(s)
    start = utcnow() - dt.timedelta(hours=1)
    with runtime.sessions.begin() as s:
        start_campaign(s, campaign_id=campaign_id, now=start)
        claimed = claims.claim(
            s, campaign_id=campaign_id, first_id=0, last_id=10**9, limit=2, now=start
        )
    assert len(claimed) == 2
    with runtime.sessions.begin() as s:
        fresh = lease.reconcile(s, now=start + dt.timedelta(seconds=30))
    assert fresh == []  # lease and progress still fresh: a live worker owns the work
    with runtime.sessions.begin() as s:
        works = lease.reconcile(s)
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 5}
    assert [w.campaign_id for w in works] == [campaign_id]
    with runtime.sessions.begin() as s:
        assert lease.reconcile(s) == []  # just enqueued: not stalled again yet


def test_a_renewed_lease_holds_and_an_expired_one_is_handed_back_at_once(
    runtime: Runtime,
) -> None:
    """Renewed rows stay with their batch; a dead batch's rows come back as soon as the
    lease ends, with their own range, though the campaign made progress meanwhile."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 6)
        campaign_id = add_campaign(s)
    start = utcnow()
    with runtime.sessions.begin() as s:
        start_campaign(s, campaign_id=campaign_id, now=start)
        live = claims.claim(
            s, campaign_id=campaign_id, first_id=0, last_id=10**9, limit=2, now=start
        )
        dead = claims.claim(
            s, campaign_id=campaign_id, first_id=0, last_id=10**9, limit=2, now=start
        )
    later = start + lease.LEASE - dt.timedelta(seconds=5)
    with runtime.sessions.begin() as s:
        held = lease.renew(
            s, delivery_ids=[r.delivery_id for r in live], held_since=start, now=later
        )
    assert held == {r.delivery_id for r in live}
    expired = start + lease.LEASE + dt.timedelta(seconds=1)
    with runtime.sessions.begin() as s:
        # Progress is recent (not stalled), yet the dead batch's rows are enqueued again.
        s.execute(update(Campaign).values(progress_at=expired))
        works = lease.reconcile(s, now=expired)
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 4, DeliveryStatus.SENDING: 2}
    with runtime.sessions() as s:
        queued = sorted(
            s.scalars(select(Delivery.id).where(Delivery.status == DeliveryStatus.QUEUED))
        )
    dead_ids = sorted(r.delivery_id for r in dead)
    assert set(dead_ids) <= set(queued)
    assert [(w.campaign_id, w.ranges) for w in works] == [(campaign_id, [(queued[0], queued[-1])])]
    with runtime.sessions.begin() as s:
        # The dead batch's stamp no longer holds anything: it must not send those rows.
        assert lease.renew(s, delivery_ids=dead_ids, held_since=start, now=expired) == set()


def test_pause_resume_cancel_and_retry_failed(runtime: Runtime, smtp_server: SMTPServer) -> None:
    """Paused campaigns send nothing until resumed; cancel skips the rest; failures retry."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 6)
        campaign_id = add_campaign(s)
        other = add_campaign(s, subject="Hủy")
    # A policy refusal (5.7.x) fails the row without condemning the address: retryable.
    smtp_server.refuse("dan00005@example.vn", "554 5.7.1 message refused as spam")
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
        campaign_control.pause(s, campaign_id=campaign_id)
    send_all(runtime, work)
    with runtime.sessions.begin() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 6}
        with pytest.raises(campaign_control.CampaignStateError):
            campaign_control.pause(s, campaign_id=campaign_id)
        resumed = campaign_control.resume(s, campaign_id=campaign_id)
    send_all(runtime, resumed)
    smtp_server.handler.rcpt_replies.clear()
    with runtime.sessions.begin() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.SENT: 5, DeliveryStatus.FAILED: 1}
        retry = campaign_control.retry_failed(s, campaign_id=campaign_id)
    send_all(runtime, retry)
    with runtime.sessions.begin() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.SENT: 6}
        start_campaign(s, campaign_id=other)
        assert campaign_control.cancel(s, campaign_id=other) == 6
        assert s.get(Campaign, other).status is CampaignStatus.CANCELLED  # type: ignore[union-attr]
    assert len(smtp_server.wait_for(6)) == 6


def test_a_campaign_that_cannot_be_composed_is_paused_with_nothing_claimed(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """A broken campaign (here a digest without its window) pauses, its rows stay queued."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 3)
        campaign = Campaign(kind=CampaignKind.DIGEST, subject="Bản tin tuần", period="hỏng")
        s.add(campaign)
        s.flush()
        campaign_id = campaign.id
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
    send_all(runtime, work)
    with runtime.sessions() as s:
        paused = s.get(Campaign, campaign_id)
        assert paused is not None
        assert paused.status is CampaignStatus.PAUSED
        assert "cannot compose" in (paused.meta or {})["paused_reason"]
        assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 3}
    assert smtp_server.received == []


def test_suppressed_address_gets_nothing_from_later_campaigns(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """After a hard bounce at RCPT, the next campaign leaves the address out; an address
    suppressed while its subscriber is still active is skipped at claim time."""
    with runtime.sessions.begin() as s:
        add_subscribers(s, 3)
        first = add_campaign(s)
    smtp_server.refuse("dan00000@example.vn", "550 5.1.1 no such user")
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=first)
    send_all(runtime, work)
    smtp_server.handler.rcpt_replies.clear()
    with runtime.sessions.begin() as s:
        # Suppressed by a complaint that came in elsewhere; the row itself stayed active.
        suppress(s, email="dan00001@example.vn", reason="complaint")
        second = add_campaign(s, subject="Lần hai")
        later = start_campaign(s, campaign_id=second)
    send_all(runtime, later)
    with runtime.sessions() as s:
        assert ledger(s, second) == {DeliveryStatus.SENT: 1, DeliveryStatus.SKIPPED: 1}
    second_round = [
        m.rcpt_tos[0] for m in smtp_server.received if m.message["Subject"] == "Lần hai"
    ]
    assert second_round == ["dan00002@example.vn"]


def test_a_reader_of_several_target_categories_is_counted_and_queued_once(
    runtime: Runtime,
) -> None:
    """Two of the campaign's categories still make one row, and the count agrees with it."""
    with runtime.sessions.begin() as s:
        water = add_category(s, "thong-bao", "Thông báo")
        culture = add_category(s, "van-hoa", "Văn hóa – Xã hội")
        sport = add_category(s, "the-thao", "Thể thao")
        every = add_subscribers(s, 1, prefix="moi")
        both = add_subscribers(s, 2, prefix="cahai", categories=[water, culture])
        add_subscribers(s, 2, prefix="bongda", categories=[sport])
        campaign_id = add_campaign(s, categories=[water, culture])
        s.add(Delivery(campaign_id=campaign_id, subscriber_id=both[0],
                       status=DeliveryStatus.QUEUED, attempts=0))  # fmt: skip
    with runtime.sessions.begin() as s:
        assert count_eligible(s, campaign_id=campaign_id) == 2
        start_campaign(s, campaign_id=campaign_id)
        rows = list(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == campaign_id))
        )
    assert sorted(rows) == sorted(every + both)


def test_a_row_whose_subscriber_is_gone_is_skipped_and_the_campaign_ends(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """No foreign key holds the ledger to subscribers (0006): a row left pointing at a
    deleted subscriber (an erasure racing the start) is skipped, never mailed or stuck."""
    with runtime.sessions.begin() as s:
        ids = add_subscribers(s, 2)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
        s.execute(
            delete(subscriber_categories).where(subscriber_categories.c.subscriber_id == ids[0])
        )
        s.execute(delete(Subscriber).where(Subscriber.id == ids[0]))  # the row keeps its id
    send_all(runtime, work)
    with runtime.sessions() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.SKIPPED: 1, DeliveryStatus.SENT: 1}
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        assert campaign.status is CampaignStatus.SENT
    assert [m.rcpt_tos for m in smtp_server.wait_for(1)] == [["dan00001@example.vn"]]
