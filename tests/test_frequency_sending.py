"""Sending by frequency: weekly and daily digests, an alert per arrival batch, and the
watermarks that bring each article to each subscriber exactly once, also across a switch
of frequency, a re-run and a crash mid-send (docs/delivery.md "Frequencies")."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from sqlalchemy import select, update

from newsletter.campaigns import control
from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.build import NoDigest, create_bulletin
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.content.articles import ArticleInput, CategoryIndex, upsert_article
from newsletter.delivery import lease
from newsletter.delivery.batch import send_batch
from newsletter.delivery.budget import open_budget
from newsletter.delivery.claims import claim
from newsletter.delivery.ledger import queued_ranges, release
from newsletter.delivery.watermarks import NO_WATERMARK, campaign_upto, reserve
from newsletter.models import (
    Article,
    ArticleBatch,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Frequency,
    Subscriber,
    utcnow,
)
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import create_producer
from newsletter.tasks.enqueue import reconcile_and_enqueue, start_alerts, start_digest
from tests.support.ledger import add_category, add_subscribers
from tests.support.smtp import SMTPServer

TITLE = re.compile(r"Tin số (\d+)")


@pytest.fixture
def runtime(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Iterator[Runtime]:
    rt = build_runtime(
        settings_factory(database_url=database_url, smtp_url=smtp_server.url, send_rate=1000)
    )
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Celery]:
    """A real producer on the embedded broker (tasks land in its SQLite file); the tests
    run the batches in-process, as a worker would."""
    producer = create_producer(runtime.settings)
    yield producer
    producer.close()


def arrive(runtime: Runtime, numbers: list[int], *, published: dt.datetime) -> None:
    """One arrival batch (one transaction, as a feed poll or a push), through the upsert."""
    with runtime.sessions.begin() as s:
        categories = CategoryIndex.load(s)
        for n in numbers:
            upsert_article(
                s,
                article=ArticleInput(
                    url=f"https://example.gov.vn/tin/{n}",
                    title=f"Tin số {n}",
                    categories=("tin-tuc",),
                    published_at=published,
                ),
                categories=categories,
            )


def deliver(runtime: Runtime, campaign_id: int) -> None:
    """Send a started campaign's queued rows in-process (what the worker's tasks do)."""
    with runtime.sessions() as s:
        ranges = queued_ranges(s, campaign_id=campaign_id, size=500)
    budget = open_budget(runtime.settings)
    for first, last in ranges:
        send_batch(
            runtime,
            budget,
            composer_for=composer_for,
            campaign_id=campaign_id,
            first_id=first,
            last_id=last,
        )


def digest(app: Celery, runtime: Runtime, frequency: Frequency, now: dt.datetime) -> int:
    outcome = start_digest(app, runtime, now=now, frequency=frequency)
    assert isinstance(outcome, int), outcome
    deliver(runtime, outcome)
    return outcome


def alerts(app: Celery, runtime: Runtime) -> list[int]:
    started = start_alerts(app, runtime)
    for campaign_id in started:
        deliver(runtime, campaign_id)
    return started


def received(smtp: SMTPServer) -> dict[str, Counter[int]]:
    """Address → how many times each article number reached it, read from the mails."""
    found: dict[str, Counter[int]] = {}
    for mail in smtp.received:
        text = mail.message.get_body(("plain",))
        assert text is not None
        numbers = {int(n) for n in TITLE.findall(text.get_content())}
        for rcpt in mail.rcpt_tos:
            found.setdefault(rcpt, Counter()).update(numbers)
    return found


def set_frequency(runtime: Runtime, ids: list[int], frequency: Frequency) -> None:
    with runtime.sessions.begin() as s:
        s.execute(update(Subscriber).where(Subscriber.id.in_(ids)).values(frequency=frequency))


PEOPLE = {
    # name: (frequency before the switch, after)
    "tuan": (Frequency.WEEKLY, Frequency.WEEKLY),
    "ngay": (Frequency.DAILY, Frequency.DAILY),
    "ngaykhico": (Frequency.IMMEDIATELY, Frequency.IMMEDIATELY),
    "tuan2ngay": (Frequency.WEEKLY, Frequency.DAILY),
    "tuan2ngaykhico": (Frequency.WEEKLY, Frequency.IMMEDIATELY),
    "ngay2tuan": (Frequency.DAILY, Frequency.WEEKLY),
    "ngay2ngaykhico": (Frequency.DAILY, Frequency.IMMEDIATELY),
    "ngaykhico2tuan": (Frequency.IMMEDIATELY, Frequency.WEEKLY),
    "ngaykhico2ngay": (Frequency.IMMEDIATELY, Frequency.DAILY),
}


def make_people(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions.begin() as s:
        add_category(s, "tin-tuc", "Tin tức")
        ids = {name: add_subscribers(s, 1, prefix=name)[0] for name in PEOPLE}
    for name, (before, _after) in PEOPLE.items():
        set_frequency(runtime, [ids[name]], before)
    return ids


def address(name: str) -> str:
    return f"{name}00000@example.vn"


def test_every_article_reaches_everyone_once_across_switches(
    runtime: Runtime, app: Celery, smtp_server: SMTPServer
) -> None:
    """Weekly, daily and immediate subscribers, and one who switches in each direction
    mid-period, each receive every article exactly once; re-running sends nothing."""
    make_people(runtime)
    base = utcnow() - dt.timedelta(hours=2)
    # The first period: articles 1 and 2 arrive in one batch; every kind goes out.
    arrive(runtime, [1, 2], published=base)
    assert len(alerts(app, runtime)) == 1, "one alert for a batch of two articles"
    digest(app, runtime, Frequency.DAILY, base + dt.timedelta(minutes=10))
    digest(app, runtime, Frequency.WEEKLY, base + dt.timedelta(minutes=10))
    # Article 3 arrives: only the immediate readers hear of it now.
    arrive(runtime, [3], published=base + dt.timedelta(minutes=20))
    alerts(app, runtime)
    with runtime.sessions() as s:
        ids = {
            n: s.scalar(select(Subscriber.id).where(Subscriber.email == address(n))) for n in PEOPLE
        }
    for name, (_before, after) in PEOPLE.items():
        set_frequency(runtime, [ids[name]], after)
    # Article 4 arrives after the switches; then the next day's and week's digests.
    arrive(runtime, [4, 5], published=base + dt.timedelta(minutes=30))
    alerts(app, runtime)
    # Exactly a day and a week after the first: the next local day and ISO week.
    digest(app, runtime, Frequency.DAILY, base + dt.timedelta(days=1, minutes=10))
    digest(app, runtime, Frequency.WEEKLY, base + dt.timedelta(days=7, minutes=10))

    got = received(smtp_server)
    for name in PEOPLE:
        assert got[address(name)] == Counter({1: 1, 2: 1, 3: 1, 4: 1, 5: 1}), name
    mails = Counter(r for m in smtp_server.received for r in m.rcpt_tos)
    # A batch of several articles is one mail: an immediate reader got three alerts.
    assert mails[address("ngaykhico")] == 3
    assert mails[address("tuan2ngaykhico")] == 2  # weekly, then one alert with 3, 4 and 5

    # Re-running every period and batch sends nothing more.
    count = len(smtp_server.received)
    assert alerts(app, runtime) == []
    for frequency, when in (
        (Frequency.DAILY, base + dt.timedelta(days=1, minutes=10)),
        (Frequency.WEEKLY, base + dt.timedelta(days=7, minutes=10)),
    ):
        again = start_digest(app, runtime, now=when, frequency=frequency)
        assert isinstance(again, NoDigest)
    with runtime.sessions() as s:
        campaign_ids = list(s.scalars(select(Campaign.id)))
    for campaign_id in campaign_ids:
        with runtime.sessions.begin() as s:
            s.execute(
                update(Delivery)
                .where(Delivery.campaign_id == campaign_id)
                .values(status=DeliveryStatus.QUEUED)
                .where(Delivery.status == DeliveryStatus.SKIPPED)
            )
        with runtime.sessions.begin() as s:
            s.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(status=CampaignStatus.SENDING)
            )
        deliver(runtime, campaign_id)
    assert len(smtp_server.received) == count, "skipped rows sent again would be repeats"


def test_each_digest_reaches_its_frequency_and_a_bulletin_everyone(
    runtime: Runtime, app: Celery, smtp_server: SMTPServer
) -> None:
    """Each digest reaches only its frequency; the daily digest is one per local day."""
    ids = make_people(runtime)
    base = utcnow() - dt.timedelta(hours=1)
    arrive(runtime, [1], published=base)
    daily = digest(app, runtime, Frequency.DAILY, base + dt.timedelta(minutes=5))
    with runtime.sessions() as s:
        campaign = s.get_one(Campaign, daily)
        assert campaign.kind is CampaignKind.DAILY_DIGEST
        local = (base + dt.timedelta(minutes=5)).astimezone(ZoneInfo(runtime.settings.timezone))
        assert campaign.period == local.date().isoformat()
        readers = set(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == daily))
        )
    assert readers == {ids[n] for n, (f, _) in PEOPLE.items() if f is Frequency.DAILY}
    again = start_digest(
        app, runtime, now=base + dt.timedelta(minutes=50), frequency=Frequency.DAILY
    )
    assert isinstance(again, NoDigest)
    assert again.campaign_id == daily
    assert "one digest per day" in again.message
    weekly = digest(app, runtime, Frequency.WEEKLY, base + dt.timedelta(minutes=5))
    with runtime.sessions.begin() as s:
        readers = set(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == weekly))
        )
        bulletin = create_bulletin(
            s, subject="Cắt nước", body_markdown="Khẩn.", category_slugs=[], created_by="t"
        ).id
        start_campaign(s, campaign_id=bulletin)
        everyone = set(
            s.scalars(select(Delivery.subscriber_id).where(Delivery.campaign_id == bulletin))
        )
    assert readers == {ids[n] for n, (f, _) in PEOPLE.items() if f is Frequency.WEEKLY}
    assert everyone == set(ids.values()), "a bulletin reaches every frequency"


def test_no_daily_reader_says_why(runtime: Runtime, app: Celery) -> None:
    """With no "hang-ngay" subscriber the daily digest is not built, and says why."""
    with runtime.sessions.begin() as s:
        add_category(s, "tin-tuc", "Tin tức")
        add_subscribers(s, 2)  # weekly, the default
    arrive(runtime, [1], published=utcnow() - dt.timedelta(hours=1))
    outcome = start_digest(app, runtime, frequency=Frequency.DAILY)
    assert isinstance(outcome, NoDigest)
    assert "hang-ngay" in outcome.message


def test_rolled_back_batch_has_no_alert_and_a_lost_enqueue_is_found(
    runtime: Runtime, app: Celery, smtp_server: SMTPServer
) -> None:
    """A batch rolled back leaves nothing to alert; a committed batch whose alert was
    never started (a crash before the enqueue) is started by the reconciler."""
    with runtime.sessions.begin() as s:
        add_category(s, "tin-tuc", "Tin tức")
        (reader,) = add_subscribers(s, 1, prefix="ngaykhico")
    set_frequency(runtime, [reader], Frequency.IMMEDIATELY)
    published = utcnow() - dt.timedelta(minutes=5)

    def failing_ingest() -> None:
        with runtime.sessions.begin() as s:
            upsert_article(
                s,
                article=ArticleInput(
                    url="https://example.gov.vn/tin/9", title="Tin số 9", published_at=published
                ),
                categories=CategoryIndex.load(s),
            )
            raise RuntimeError("the ingest fails before its commit")

    with pytest.raises(RuntimeError):
        failing_ingest()
    with runtime.sessions() as s:
        assert s.scalar(select(ArticleBatch.id)) is None
    arrive(runtime, [1, 2], published=published)  # committed; "crash": no start_alerts
    assert reconcile_and_enqueue(app, runtime) >= 1
    with runtime.sessions() as s:
        alert = s.scalar(select(Campaign.id).where(Campaign.kind == CampaignKind.ALERT))
    assert alert is not None
    deliver(runtime, alert)
    assert received(smtp_server) == {address("ngaykhico"): Counter({1: 1, 2: 1})}
    assert reconcile_and_enqueue(app, runtime) == 0, "the batch has its alert: not again"


def test_crash_mid_send_changes_no_article_set(
    runtime: Runtime, app: Celery, smtp_server: SMTPServer
) -> None:
    """A worker that dies after claiming rows (watermarks already moved) and before
    sending them: after its lease the rows go out with the same articles, once, and a
    switch of frequency meanwhile neither loses nor repeats any."""
    make_people(runtime)
    base = utcnow() - dt.timedelta(hours=2)
    arrive(runtime, [1, 2], published=base)
    outcome = start_digest(app, runtime, now=base + dt.timedelta(minutes=10))
    assert isinstance(outcome, int)
    weekly = outcome
    with runtime.sessions.begin() as s:
        upto = campaign_upto(s, weekly)
        assert upto is not None
        rows = claim(s, campaign_id=weekly, first_id=0, last_id=2**62, limit=50)
        reserve(
            s, upto=upto, rows=[(r.delivery_id, r.subscriber_id) for r in rows if r.subscriber_id]
        )
        # Nobody had a watermark yet: each row records that (the campaign's own list),
        # which `restore` reads if the row ends without its mail.
        recorded = s.scalars(select(Delivery.after_article).where(Delivery.campaign_id == weekly))
        assert set(recorded) == {NO_WATERMARK}
    # The worker is gone. Its weekly readers switch to immediate; article 3 arrives.
    with runtime.sessions() as s:
        weekly_ids = list(
            s.scalars(select(Subscriber.id).where(Subscriber.frequency == Frequency.WEEKLY))
        )
    set_frequency(runtime, weekly_ids, Frequency.IMMEDIATELY)
    arrive(runtime, [3], published=base + dt.timedelta(minutes=20))
    alerts(app, runtime)
    # The lease ends: the reconciler hands the rows back, and they are sent.
    with runtime.sessions.begin() as s:
        lease.reconcile(s, lease=dt.timedelta(0), now=utcnow() + dt.timedelta(seconds=1))
    deliver(runtime, weekly)
    got = received(smtp_server)
    for name in ("tuan", "tuan2ngay", "tuan2ngaykhico"):
        assert got[address(name)] == Counter({1: 1, 2: 1, 3: 1}), name


def test_a_mail_refused_for_good_gives_its_articles_to_the_next_one(
    runtime: Runtime, app: Celery, smtp_server: SMTPServer
) -> None:
    """A digest the relay refuses for good (a policy 5xx) moves no watermark: next week's
    digest brings that week's articles too, once; a re-run sends nothing."""
    with runtime.sessions.begin() as s:
        add_category(s, "tin-tuc", "Tin tức")
        add_subscribers(s, 2, prefix="tuan")
    refused = "tuan00001@example.vn"
    smtp_server.refuse(refused, "550 5.7.1 Relaying denied by policy")
    base = utcnow() - dt.timedelta(hours=2)
    arrive(runtime, [1, 2], published=base)
    digest(app, runtime, Frequency.WEEKLY, base + dt.timedelta(minutes=10))
    with runtime.sessions() as s:
        mark = s.scalar(select(Subscriber.mailed_through).where(Subscriber.email == refused))
        first = s.scalar(select(Article.id).where(Article.title == "Tin số 1"))
    assert first is not None
    assert mark == first - 1, "given back: from just before the refused mail's articles"
    del smtp_server.handler.rcpt_replies[refused]
    arrive(runtime, [3], published=base + dt.timedelta(minutes=20))
    digest(app, runtime, Frequency.WEEKLY, base + dt.timedelta(days=7, minutes=10))
    got = received(smtp_server)
    assert got[address("tuan")] == Counter({1: 1, 2: 1, 3: 1})
    assert got[refused] == Counter({1: 1, 2: 1, 3: 1})


def test_cancelled_digest_gives_back_what_its_claimed_rows_reserved(
    runtime: Runtime, app: Celery
) -> None:
    """Rows claimed (watermarks moved) then given back unsent, then the campaign
    cancelled: each subscriber's watermark is what it was before."""
    with runtime.sessions.begin() as s:
        add_category(s, "tin-tuc", "Tin tức")
        ids = add_subscribers(s, 3, prefix="tuan")
        s.execute(update(Subscriber).where(Subscriber.id == ids[0]).values(mailed_through=0))
    arrive(runtime, [1, 2], published=utcnow() - dt.timedelta(hours=1))
    campaign_id = start_digest(app, runtime)
    assert isinstance(campaign_id, int)
    with runtime.sessions.begin() as s:
        upto = campaign_upto(s, campaign_id)
        assert upto is not None
        rows = claim(s, campaign_id=campaign_id, first_id=0, last_id=2**62, limit=50)
        reserve(s, upto=upto, rows=[(r.delivery_id, r.subscriber_id or 0) for r in rows])
        assert set(s.scalars(select(Subscriber.mailed_through))) == {upto}
        release(s, delivery_ids=[r.delivery_id for r in rows])
    with runtime.sessions.begin() as s:
        control.cancel(s, campaign_id=campaign_id)
    with runtime.sessions() as s:
        first = s.scalar(select(Article.id).where(Article.title == "Tin số 1"))
        marks = dict(s.execute(select(Subscriber.id, Subscriber.mailed_through)).all())
    assert first is not None
    assert marks == {ids[0]: 0, ids[1]: first - 1, ids[2]: first - 1}
