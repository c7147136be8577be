"""How long migration 0007 takes on a list in use (docs/operations.md, "Upgrading").

Builds a PostgreSQL database at revision 0006, stores `--n` active subscribers each with
one category row (the case 0007 rewrites: its UPDATE clears the new flag of every
subscriber that has a category), settles it (VACUUM ANALYZE, CHECKPOINT), then times
`newsletter db upgrade` to head. The database is dropped afterwards.

Run:  .venv/bin/python bench/bench_migrate.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from sqlalchemy import create_engine, text

from newsletter import migrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    with services.database(f"bench_migrate_{uuid.uuid4().hex[:8]}") as url:
        migrate.upgrade(url, "0006_no_subscriber_fk")
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("INSERT INTO categories (slug, name, position, created_at)"
                                  " VALUES ('tin-tuc', 'Tin tức', 0, now())"))  # fmt: skip
                conn.execute(
                    text(
                        "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                        " created_at, updated_at) SELECT g, 'dan' || g || '@example.vn',"
                        " 'active', 'vi', 0, now(), now() FROM generate_series(1, :n) g"
                    ),
                    {"n": args.n},
                )
                conn.execute(
                    text(
                        "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                        " SELECT g, (SELECT id FROM categories) FROM generate_series(1, :n) g"
                    ),
                    {"n": args.n},
                )
                conn.execute(text("VACUUM (ANALYZE)"))
                conn.execute(text("CHECKPOINT"))
        finally:
            engine.dispose()
        started = time.perf_counter()
        migrate.upgrade(url)
        print(f"0006 → head on {args.n:,} subscribers with a category: "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
