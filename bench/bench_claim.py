"""How long does `delivery.claims.claim` take per batch, suppression look-up included?

Fills a fresh database (SQLite file, or PostgreSQL with --database-url) with N active
subscribers and one sending campaign, suppresses one address in ten (half through
`suppress`, half as rows written before the hashes were keyed, where the code knows
them), then claims the whole campaign in batches of --batch and prints the median and
total time per batch. Runs the code it is started with: for a side-by-side, point
PYTHONPATH at another tree (`git archive <commit> src | tar -x -C /tmp/before`).

Run:  .venv/bin/python bench/bench_claim.py [--n 20000] [--batch 500] [--rounds 3]
      [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, update

from newsletter import migrate
from newsletter.config import load_settings
from newsletter.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.runtime import build_runtime
from newsletter.subscribers.suppression import suppress

try:
    from newsletter.delivery.claims import claim
except ImportError:  # a tree from before delivery/claims.py, on PYTHONPATH for a side-by-side
    from newsletter.delivery.ledger import claim  # type: ignore[attr-defined,no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-claim-"))
    settings = load_settings(
        env="test",
        var_dir=var,
        secret_key="bench-key-0123456789ABCDEFGHIJKLMNOPQRSTUV",
        **({"database_url": args.database_url} if args.database_url else {}),
    )
    migrate.upgrade(settings.database_url)
    runtime = build_runtime(settings)
    emails = [f"dan{i:06d}@example.vn" for i in range(args.n)]
    with runtime.sessions.begin() as s:
        s.execute(
            insert(Subscriber),
            [{"email": e, "status": SubscriberStatus.ACTIVE, "locale": "vi"} for e in emails],
        )
        for e in emails[::20]:
            suppress(s, email=e, reason="complaint")
        s.execute(
            insert(Suppression),
            [
                {"email_hash": hashlib.sha256(e.encode()).hexdigest(), "reason": "bounced"}
                | ({"keyed": False} if hasattr(Suppression, "keyed") else {})
                for e in emails[10::20]
            ],
        )
        ids = list(s.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    timings: list[float] = []
    cpu: list[float] = []  # this process's CPU: steadier than wall time on a shared machine
    skipped = 0
    for _ in range(args.rounds):
        with runtime.sessions.begin() as s:
            campaign = Campaign(
                kind=CampaignKind.BULLETIN, subject="Thử", status=CampaignStatus.SENDING
            )
            s.add(campaign)
            s.flush()
            s.execute(
                insert(Delivery),
                [{"campaign_id": campaign.id, "subscriber_id": i} for i in ids],
            )
            first, last = (
                s.execute(
                    select(Delivery.id)
                    .where(Delivery.campaign_id == campaign.id)
                    .order_by(Delivery.id)
                    .limit(1)
                ).scalar_one(),
                s.execute(
                    select(Delivery.id)
                    .where(Delivery.campaign_id == campaign.id)
                    .order_by(Delivery.id.desc())
                    .limit(1)
                ).scalar_one(),
            )
        while True:
            with runtime.sessions.begin() as s:
                start, start_cpu = time.perf_counter(), time.process_time()
                rows = claim(
                    s, campaign_id=campaign.id, first_id=first, last_id=last, limit=args.batch
                )
                timings.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
                if not rows:
                    timings.pop()
                    cpu.pop()
                    break
                skipped += sum(not r.deliverable for r in rows)
                s.execute(
                    update(Delivery)
                    .where(Delivery.id.in_([r.delivery_id for r in rows]))
                    .values(status=DeliveryStatus.SENT)
                )
    runtime.close()
    print(
        f"{settings.database_url.split(':')[0]}: {len(timings)} claims of {args.batch}, "
        f"median {statistics.median(timings) * 1000:.2f} ms "
        f"(CPU {statistics.median(cpu) * 1000:.2f} ms), "
        f"total {sum(timings) * 1000:.0f} ms, skipped {skipped // args.rounds} per round"
    )


if __name__ == "__main__":
    main()
