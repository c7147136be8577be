"""Sending by frequency on PostgreSQL: the starts of a daily digest and of an alert, and the
send loop's msg/s for a daily digest beside a weekly one (and a bulletin).

Start: a fresh migrated database with `--start-n` subscribers of each frequency (half of
them read one category, half every category) and 10 articles; then, timed to the commit,
the daily digest's build and start (its ledger filled for the `hang-ngay` readers), and an
arrival batch of 3 articles turned into its alert and started (the `ngay-khi-co` readers)
— what beat's entry and `start_alerts` do, without the enqueue.

Send: `--send-n` readers per kind on a database of their own, each read in-process by one
send loop (`delivery/batch.send_batch`, as a worker runs it) into a Maildir on /dev/shm,
DKIM-signed: no SMTP, so the figures are the loop's own cost (claim, watermarks, compose,
sign, mark). The daily readers have five different watermarks and three category sets
(15 segments), the weekly ones none (3 segments): the per-subscriber content's price. An
alert (3 new articles to the `ngay-khi-co` readers) is sent beside a bulletin, which it
should match. Rounds alternate weekly, daily, alert, bulletin; medians, and the ratios.

Run:  .venv/bin/python bench/bench_frequency.py [--start-n 100000] [--send-n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from sqlalchemy import func, select, text, update

from newsletter import migrate
from newsletter.campaigns.alerts import build_alert
from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.build import build_digest, create_bulletin
from newsletter.campaigns.periods import DAILY, WEEKLY
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.content.articles import ArticleInput, CategoryIndex, upsert_article
from newsletter.delivery.batch import send_batch
from newsletter.delivery.budget import open_budget
from newsletter.delivery.ledger import queued_ranges
from newsletter.models import (
    Article,
    ArticleBatch,
    Campaign,
    Category,
    Delivery,
    DeliveryStatus,
    Frequency,
    Subscriber,
)
from newsletter.runtime import Runtime, build_runtime

FREQUENCIES = (Frequency.DAILY, Frequency.IMMEDIATELY, Frequency.WEEKLY)


def seed(runtime: Runtime, n: int, *, published: dt.datetime) -> None:
    """n subscribers per frequency (ids grouped by frequency), 10 articles in one batch."""
    with runtime.sessions.begin() as s:
        s.add_all([Category(slug="tin-tuc", name="Tin tức"),
                   Category(slug="the-thao", name="Thể thao"),
                   Category(slug="van-hoa", name="Văn hóa")])  # fmt: skip
    with runtime.sessions.begin() as s:
        for index, frequency in enumerate(FREQUENCIES):
            first = index * n + 1
            s.execute(
                text(
                    "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                    " reads_every_category, frequency, created_at, updated_at, link_key)"
                    " SELECT g, 'dan' || g || '@example.vn', 'active', 'vi', 0, g % 2 = 0,"
                    " :f, now(), now(), md5(g::text)"
                    " FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g"
                ),
                {"f": frequency.value, "a": first, "b": first + n - 1},
            )
            # Odd ids read one of three categories: three segments of readers.
            s.execute(
                text(
                    "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                    " SELECT g, (SELECT id FROM categories ORDER BY id OFFSET (g / 2) % 3"
                    " LIMIT 1) FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g"
                    " WHERE g % 2 = 1"
                ),
                {"a": first, "b": first + n - 1},
            )
        s.execute(text("SELECT setval('subscribers_id_seq', :m)"), {"m": 3 * n})
    arrive(runtime, range(10), published=published)
    with runtime.sessions.begin() as s:
        s.execute(text("ANALYZE"))
        s.execute(update(ArticleBatch).values(alerted_at=func.now()))


def arrive(runtime: Runtime, numbers: range, *, published: dt.datetime) -> None:
    slugs = ("tin-tuc", "the-thao", "van-hoa")
    with runtime.sessions.begin() as s:
        index = CategoryIndex.load(s)
        for n in numbers:
            upsert_article(
                s,
                article=ArticleInput(
                    url=f"https://example.gov.vn/tin/{uuid.uuid4().hex}",
                    title=f"Bài số {n}: Thành phố triển khai các biện pháp phòng chống bão",
                    summary="Ủy ban nhân dân thành phố thông báo lịch cắt điện, cấp nước. " * 3,
                    categories=(slugs[n % 3],),
                    published_at=published,
                ),
                categories=index,
            )


def starts(n: int, var_dir: Path) -> dict[str, float]:
    with services.database(f"bench_freq_{uuid.uuid4().hex[:10]}") as url:
        migrate.upgrade(url)
        settings = Settings(database_url=url, var_dir=var_dir, env="test")
        runtime = build_runtime(settings)
        try:
            now = dt.datetime.now(dt.UTC)
            t0 = time.perf_counter()
            seed(runtime, n, published=now - dt.timedelta(hours=1))
            seeded = time.perf_counter() - t0
            t0 = time.perf_counter()
            with runtime.sessions.begin() as s:
                daily = build_digest(s, settings=settings, now=now, cadence=DAILY)
                assert daily is not None
                s.flush()
                start_campaign(s, campaign_id=daily.id, batch_size=settings.batch_size)
            daily_s = time.perf_counter() - t0
            arrive(runtime, range(3), published=now)
            t0 = time.perf_counter()
            with runtime.sessions.begin() as s:
                batch = s.scalar(select(func.max(ArticleBatch.id)))
                alert = build_alert(s, settings=settings, batch_id=batch, now=now)
                assert alert is not None
                s.flush()
                start_campaign(s, campaign_id=alert.id, batch_size=settings.batch_size)
            alert_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            with runtime.sessions.begin() as s:  # the reference: a bulletin to everyone
                bulletin = create_bulletin(s, subject="Thông báo", body_markdown="Cắt nước.",
                                           category_slugs=[], created_by="bench")  # fmt: skip
                start_campaign(s, campaign_id=bulletin.id, batch_size=settings.batch_size)
            bulletin_s = time.perf_counter() - t0
            with runtime.sessions() as s:
                rows = {
                    c.kind.value: c.total_count
                    for c in s.scalars(
                        select(Campaign).where(Campaign.id.in_([daily.id, alert.id, bulletin.id]))
                    )
                }
        finally:
            runtime.close()
    print(f"seeded {3 * n:,} subscribers in {seeded:.1f} s")
    print(f"daily digest start ({rows['daily_digest']:,} rows), to the commit: {daily_s:.2f} s")
    print(f"alert start ({rows['alert']:,} rows), build + start to the commit: {alert_s:.2f} s")
    print(f"bulletin start ({rows['bulletin']:,} rows, to all), to the commit: {bulletin_s:.2f} s")
    return {"daily_start_s": daily_s, "alert_start_s": alert_s, "bulletin_start_s": bulletin_s}


def send_rate(runtime: Runtime, campaign_id: int) -> tuple[float, int]:
    with runtime.sessions() as s:
        ranges = queued_ranges(s, campaign_id=campaign_id, size=runtime.settings.batch_size)
    budget = open_budget(runtime.settings)
    t0 = time.perf_counter()
    for first, last in ranges:
        send_batch(runtime, budget, composer_for=composer_for, campaign_id=campaign_id,
                   first_id=first, last_id=last)  # fmt: skip
    elapsed = time.perf_counter() - t0
    with runtime.sessions() as s:
        sent = s.scalar(
            select(func.count()).where(
                Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.SENT
            )
        )
    return (sent or 0) / elapsed, sent or 0


def sends(n: int, rounds: int, var_dir: Path) -> None:
    shm = Path(tempfile.mkdtemp(prefix="bench-freq-", dir="/dev/shm"))
    key = services.write_dkim_key(var_dir / "dkim.pem")
    with services.database(f"bench_freq_send_{uuid.uuid4().hex[:10]}") as url:
        migrate.upgrade(url)
        settings = Settings(
            database_url=url, var_dir=var_dir, env="test", smtp_url=f"maildir:{shm / 'outbox'}",
            send_rate=1_000_000,
            dkim_domain="example.gov.vn", dkim_selector="bench", dkim_key_file=key,
        )  # fmt: skip
        runtime = build_runtime(settings)
        figures: dict[str, list[float]] = {"weekly": [], "daily": [], "alert": [], "bulletin": []}
        try:
            now = dt.datetime.now(dt.UTC)
            seed(runtime, n, published=now - dt.timedelta(hours=1))
            with runtime.sessions() as s:
                daily_ids = list(
                    s.scalars(select(Subscriber.id).where(Subscriber.frequency == Frequency.DAILY))
                )
            for r in range(rounds):
                when = now + dt.timedelta(days=7 * r)
                if r:  # each round's digests need articles of their own window
                    arrive(runtime, range(10), published=when - dt.timedelta(hours=1))
                arrive(runtime, range(3), published=when - dt.timedelta(minutes=30))
                with runtime.sessions.begin() as s:
                    first_article = s.scalar(
                        select(func.min(Article.id)).where(
                            Article.published_at >= when - dt.timedelta(hours=2)
                        )
                    )
                    assert first_article is not None
                    # Watermarks as after a month of switches: five different ones.
                    s.execute(update(Subscriber).values(mailed_through=None))
                    for k in range(5):
                        s.execute(
                            update(Subscriber)
                            .where(Subscriber.id.in_(daily_ids[k::5]))
                            .values(mailed_through=first_article - 1 + k)
                        )
                    weekly = build_digest(s, settings=settings, now=when, cadence=WEEKLY)
                    daily = build_digest(s, settings=settings, now=when, cadence=DAILY)
                    bulletin = create_bulletin(s, subject="Thông báo cắt nước",
                                               body_markdown="Khu vực phường Tân An.\n" * 20,
                                               category_slugs=[], created_by="bench")  # fmt: skip
                    batch = s.scalar(select(func.max(ArticleBatch.id)))
                    alert = build_alert(s, settings=settings, batch_id=batch, now=when)
                    assert weekly is not None
                    assert daily is not None
                    assert alert is not None
                    s.flush()
                    ids = {"weekly": weekly.id, "daily": daily.id, "alert": alert.id,
                           "bulletin": bulletin.id}  # fmt: skip
                    for campaign_id in ids.values():
                        start_campaign(s, campaign_id=campaign_id, batch_size=settings.batch_size)
                for name in ids:
                    rate, sent = send_rate(runtime, ids[name])
                    figures[name].append(rate)
                    print(f"round {r + 1}: {name:8} {sent:,} sent, {rate:,.0f} msg/s")
        finally:
            runtime.close()
            shutil.rmtree(shm, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(
        f"medians: weekly {med['weekly']:,.0f}, daily {med['daily']:,.0f}, bulletin "
        f"{med['bulletin']:,.0f} msg/s; daily/weekly = {med['daily'] / med['weekly']:.2f}, "
        f"weekly/bulletin = {med['weekly'] / med['bulletin']:.2f}, "
        f"alert {med['alert']:,.0f} msg/s, alert/bulletin = {med['alert'] / med['bulletin']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-n", type=int, default=100_000, help="readers per frequency")
    parser.add_argument("--send-n", type=int, default=2_000, help="readers per kind sent")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-freq-") as tmp:
        if args.start_n:
            starts(args.start_n, Path(tmp))
        if args.send_n:
            sends(args.send_n, args.rounds, Path(tmp))


if __name__ == "__main__":
    main()
