"""CPU per subscribe store call (a new address) on PostgreSQL, in-process.

What `POST /subscribe` spends in `request_subscription` and its transaction, without the
web server around it: a fresh migrated database, `--calls` new addresses per round,
`--rounds` rounds; prints CPU and wall time per call for each round. `--src DIR` runs
another checkout's `src/` (PYTHONPATH) for a side-by-side comparison. `--category` makes
each new address choose a category (one more INSERT, and migration 0007's trigger on
it); `--without-triggers` drops those triggers first, to measure what they cost.

Run:  .venv/bin/python bench/bench_store.py [--calls 2000] [--rounds 3] [--src DIR]
      [--category [--without-triggers]]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from sqlalchemy import create_engine, text

from newsletter import migrate

CHILD = """
import datetime as dt, sys, time
from newsletter.config import Settings
from newsletter.runtime import build_runtime
from newsletter.subscribers.lifecycle import Consent, request_subscription
runtime = build_runtime(Settings(database_url=sys.argv[1], var_dir=sys.argv[2]))
consent = Consent(ip="127.0.0.1", user_agent="bench", form_text_version="sha256:0",
                  consent_text="Tôi đồng ý nhận bản tin.", source_url="https://x.vn/", via="json")
calls, rounds = int(sys.argv[3]), int(sys.argv[4])
slugs = sys.argv[5:]
for r in range(rounds):
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(calls):
        with runtime.sessions.begin() as session:
            request_subscription(session, email=f"doc.gia.{r}.{i}@example.vn", name=None,
                                 category_slugs=slugs, consent=consent,
                                 resend_after=dt.timedelta(hours=6))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"round {r + 1}: {1000 * cpu / calls:.3f} ms CPU, "
          f"{1000 * wall / calls:.3f} ms wall per call")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, default=None, help="run this src/ instead")
    parser.add_argument("--category", action="store_true", help="each address picks one")
    parser.add_argument("--without-triggers", action="store_true", help="drop 0007's triggers")
    args = parser.parse_args()
    env = dict(os.environ, NEWSLETTER_ENV="test", NEWSLETTER_SECRET_KEY="bench-" + "s" * 40)
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve())
    var = f"/tmp/bench-store-{uuid.uuid4().hex[:8]}"
    with services.database(f"bench_store_{uuid.uuid4().hex[:8]}") as url:
        migrate.upgrade(url)
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            if args.category:
                conn.execute(text("INSERT INTO categories (slug, name, position, created_at)"
                                  " VALUES ('tin-tuc', 'Tin tức', 0, now())"))  # fmt: skip
            if args.without_triggers:
                for name in ("subscriber_categories_added", "subscriber_categories_removed"):
                    conn.execute(text(f"DROP TRIGGER {name} ON subscriber_categories"))
        engine.dispose()
        slugs = ["tin-tuc"] if args.category else []
        subprocess.run(
            [sys.executable, "-c", CHILD, url, var, str(args.calls), str(args.rounds), *slugs],
            env=env, check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
