"""A bulletin targeted at areas: its count and its start on PostgreSQL, at N subscribers.

A fresh migrated database holds N active subscribers in a city of 10 districts with 10
wards each: 60 % chose one ward, 10 % one district, 30 % no area (they receive every
bulletin); a quarter chose the category tin-tuc, a quarter the-thao, half none. Four bulletins are
started one after the other, each timed from `count_eligible` (what the admin shows)
and from `start_campaign` to its commit (the campaign-start figure of bench/run.py):
one ward, one district (its ten wards too), and one ward with the category. Each count
is checked against the rows its start wrote. A bulletin to everyone comes first, for
comparison.

Run:  .venv/bin/python bench/bench_area_start.py [-n 100000]   (the goal: 1,000,000 ≤ 15 s)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from sqlalchemy import func, select, text

from newsletter import migrate
from newsletter.campaigns.audience import (
    campaign_area_ids,
    campaign_category_ids,
    count_eligible,
    eligible_subscribers,
    start_campaign,
)
from newsletter.campaigns.build import create_bulletin
from newsletter.config import Settings
from newsletter.models import Delivery
from newsletter.runtime import build_runtime

DISTRICTS, WARDS = 10, 10


def seed(runtime: object, n: int) -> float:
    """The city, its subscribers and their choices, set-based; returns seconds."""
    t0 = time.perf_counter()
    with runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        session.execute(text("INSERT INTO categories (slug, name, position, created_at)"
                             " VALUES ('tin-tuc', 'Tin tức', 0, now()),"
                             " ('the-thao', 'Thể thao', 1, now())"))  # fmt: skip
        for d in range(DISTRICTS):
            session.execute(
                text("INSERT INTO areas (code, name, created_at) VALUES (:c, :n, now())"),
                {"c": f"quan-{d}", "n": f"Quận {d}"},
            )
            session.execute(
                text(
                    "INSERT INTO areas (code, name, parent_id, created_at)"
                    " SELECT 'quan-' || :d || '-phuong-' || w, 'Phường ' || w,"
                    " (SELECT id FROM areas WHERE code = 'quan-' || :d), now()"
                    " FROM generate_series(0, :w - 1) w"
                ),
                {"d": d, "w": WARDS},
            )
        session.execute(
            text(
                "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                " created_at, updated_at) SELECT g, 'dan' || g || '@example.vn',"
                " 'active', 'vi', 0, now(), now() FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        session.execute(text("SELECT setval('subscribers_id_seq', :n)"), {"n": n})
        # g % 10: 0-5 a ward, 6 a district, 7-9 no area; g % 2 = 0: the category.
        session.execute(
            text(
                "INSERT INTO subscriber_areas (subscriber_id, area_id)"
                " SELECT g, a.id FROM generate_series(1, :n) g JOIN areas a ON a.code ="
                " CASE WHEN g % 10 < 6 THEN 'quan-' || (g / 10 % :d) || '-phuong-'"
                " || (g / 100 % :w) ELSE 'quan-' || (g / 10 % :d) END"
                " WHERE g % 10 < 7"
            ),
            {"n": n, "d": DISTRICTS, "w": WARDS},
        )
        session.execute(
            text(
                "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                " SELECT g, (SELECT id FROM categories WHERE slug ="
                " CASE WHEN g % 4 = 0 THEN 'tin-tuc' ELSE 'the-thao' END)"
                " FROM generate_series(2, :n, 2) g"
            ),
            {"n": n},
        )
    with runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        session.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def one(
    runtime: object, label: str, areas: list[str], categories: list[str], *, explain: bool
) -> list[str]:
    with runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        campaign = create_bulletin(
            session, subject=label, body_markdown="Nội dung", category_slugs=categories,
            area_codes=areas, created_by="bench",
        )  # fmt: skip
        campaign_id = campaign.id
    t0 = time.perf_counter()
    with runtime.sessions() as session:  # type: ignore[attr-defined]
        counted = count_eligible(session, campaign_id=campaign_id)
    count_s = time.perf_counter() - t0
    if explain:
        with runtime.sessions() as session:  # type: ignore[attr-defined]
            query = eligible_subscribers(
                campaign_id,
                category_ids=campaign_category_ids(session, campaign_id),
                has_rows=False,
                area_ids=campaign_area_ids(session, campaign_id),
            )
            compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN ANALYZE {compiled}")).scalars().all()
            print("\n".join(plan), file=sys.stderr)
    t0 = time.perf_counter()
    with runtime.sessions.begin() as session:  # type: ignore[attr-defined]
        start_campaign(session, campaign_id=campaign_id)
    start_s = time.perf_counter() - t0
    with runtime.sessions() as session:  # type: ignore[attr-defined]
        rows = session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id))
    assert rows == counted, (label, rows, counted)
    return [label, f"{rows:,}", f"{count_s:.2f}", f"{start_s:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="active subscribers")
    parser.add_argument("--explain", action="store_true", help="print each SELECT's plan")
    args = parser.parse_args()
    with services.database(f"bench_areas_{uuid.uuid4().hex[:10]}") as url:
        migrate.upgrade(url)
        runtime = build_runtime(Settings(database_url=url, var_dir="var", env="development"))
        try:
            seeded = seed(runtime, args.n)
            x = args.explain
            rows = [
                one(runtime, "no target (everyone, for comparison)", [], [], explain=x),
                one(runtime, "one ward", ["quan-3-phuong-4"], [], explain=x),
                one(runtime, "one district (10 wards)", ["quan-3"], [], explain=x),
                one(
                    runtime,
                    "one ward + category",
                    ["quan-3-phuong-4"],
                    ["tin-tuc"],
                    explain=args.explain,
                ),
            ]
        finally:
            runtime.close()
    print(f"N = {args.n:,} active subscribers (seeded in {seeded:.1f} s)\n")
    print("| bulletin | rows written | count_eligible, s | start to commit, s |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
