"""Campaign start at 1,000,000 rows with and without the ledger's key to subscribers.

Side by side on one database (seeded as bench/run.py seeds it), the same code, the
foreign key `deliveries.subscriber_id → subscribers` added before each "with" run and
dropped before each "without" run (migration 0006 dropped it for good). Each run starts
from an empty, vacuumed ledger in a fresh process. Prints each run and the medians.

Run:  .venv/bin/python bench/ab_start_foreign_key.py [-n 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from run import seed

from newsletter import migrate
from newsletter.config import Settings

FK = "fk_deliveries_subscriber_id_subscribers"
CHILD = """
import sys, time
from newsletter.config import Settings
from newsletter.campaigns.audience import start_campaign
from newsletter.models import Campaign, CampaignStatus
from newsletter.runtime import build_runtime
runtime = build_runtime(Settings(database_url=sys.argv[1], var_dir=sys.argv[3]))
with runtime.sessions.begin() as s:
    campaign = s.get(Campaign, int(sys.argv[2]))
    campaign.status, campaign.total_count = CampaignStatus.DRAFT, 0
t = time.perf_counter()
with runtime.sessions.begin() as s:
    start_campaign(s, campaign_id=int(sys.argv[2]), batch_size=500)
print(f"{time.perf_counter() - t:.2f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # Settings() here and in the child read the same, non-production environment.
    os.environ.update(NEWSLETTER_ENV="test", NEWSLETTER_SECRET_KEY="bench-" + "s" * 40)
    var = Path("/tmp") / f"ab-start-{uuid.uuid4().hex[:8]}"
    with services.database(f"bench_ab_{uuid.uuid4().hex[:8]}") as url:
        migrate.upgrade(url)
        digest_id, _, _ = seed(url, Settings(database_url=url, var_dir=str(var)), args.n)
        engine = sa.create_engine(url)
        env = dict(os.environ)
        results: dict[str, list[float]] = {"with the key": [], "without": []}
        try:
            for _ in range(args.runs):
                for name in results:
                    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                        c.execute(sa.text("DELETE FROM deliveries"))
                        c.execute(sa.text("VACUUM deliveries"))
                        c.execute(sa.text(f"ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS {FK}"))
                        if name == "with the key":
                            c.execute(sa.text(
                                f"ALTER TABLE deliveries ADD CONSTRAINT {FK} FOREIGN KEY"
                                " (subscriber_id) REFERENCES subscribers (id) ON DELETE SET NULL"
                            ))  # fmt: skip
                    out = subprocess.run(
                        [sys.executable, "-c", CHILD, url, str(digest_id), str(var)],
                        env=env, capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    results[name].append(float(out.stdout.split()[-1]))
                    print(f"{name}: {results[name][-1]:.2f} s", flush=True)
        finally:
            engine.dispose()
    for name, values in results.items():
        print(f"{name}: median {statistics.median(values):.2f} s of {values}")


if __name__ == "__main__":
    main()
