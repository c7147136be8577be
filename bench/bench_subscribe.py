"""POST /subscribe under an open-loop load: req/s achieved, p50/p99, statuses.

Starts `newsletter web` on a fresh PostgreSQL database with the broker and the IP limiter
on Redis (a unique NEWSLETTER_REDIS_PREFIX), then runs bench/loadgen.py against it.

Run:  .venv/bin/python bench/bench_subscribe.py [--rate 300] [--seconds 15] [--runs 3]
      [--workers N] [--profile] [--src DIR] [--client raw|httpx] [--null]
      [--seed N [--no-settle]]

--client picks the load generator: `raw` (loadgen_raw.py, the default) or `httpx`
(loadgen.py, what bench/run.py uses). httpx spends 3-5 ms of CPU per request, so on this
2-core machine it cannot offer 300 req/s at all; --null aims the generator at a server
that answers at once, which shows the generator's own ceiling.

--profile records the web process(es) with py-spy (`--format raw`) while the load runs
and prints bench/profile_top.py's summary. --src runs the web process from another
checkout's src/ (PYTHONPATH), so two versions can be measured side by side in one session.
No worker runs: confirmations stay queued in Redis and are deleted with the run's keys.
--seed stores N subscribers first and settles the database (VACUUM ANALYZE, CHECKPOINT),
the state bench/run.py's first subscribe load meets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen
import loadgen_raw
import services

from newsletter import migrate

HERE = Path(__file__).resolve().parent
PY_SPY = Path(sys.executable).parent / "py-spy"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def web_env(
    db_url: str, redis_url: str, prefix: str, var: Path, src: Path | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_ENV": "test",
            "NEWSLETTER_SECRET_KEY": "bench-" + "s" * 40,
            "NEWSLETTER_VAR_DIR": str(var),
            "NEWSLETTER_DATABASE_URL": db_url,
            "NEWSLETTER_BROKER_URL": redis_url,
            "NEWSLETTER_REDIS_URL": redis_url,
            "NEWSLETTER_REDIS_PREFIX": prefix,
            "NEWSLETTER_PUBLIC_URL": "https://bantin.example.gov.vn",
            # Every request comes from 127.0.0.1: the per-IP limit would refuse the load.
            "NEWSLETTER_SUBSCRIBE_RATE_LIMIT": "100000000",
        }
    )
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    return env


def cpu_seconds(web_pid: int, database: str) -> dict[str, float]:
    """CPU time so far of the web process tree and of the PostgreSQL backends of `database`.

    Per request, these are what a noisy shared machine cannot blur: the throughput a run
    reaches depends on the CPU the other tenants leave, the CPU each request costs does not.
    """
    import psutil

    totals = {"web": 0.0, "postgres": 0.0}
    for pid in services.process_tree(web_pid):
        try:
            times = psutil.Process(pid).cpu_times()
            totals["web"] += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        if database in " ".join(proc.info["cmdline"] or []) and proc.info["cpu_times"]:
            totals["postgres"] += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return totals


def profile(pid: int, seconds: float, out: Path, gil: bool) -> subprocess.Popen[bytes]:
    if not PY_SPY.exists():
        raise SystemExit(f"{PY_SPY} is missing: .venv/bin/pip install -e '.[dev,bench]'")
    return subprocess.Popen(
        [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
         "--rate", "200", "--duration", str(int(seconds) + 1), "--output", str(out),
         "--nonblocking", *(["--gil"] if gil else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def seed_subscribers(db_url: str, n: int, *, settle: bool) -> None:
    """`n` active subscribers, one category each, as bench/run.py seeds them.

    bench/run.py's first subscribe load meets a database just seeded with 110,000 to
    1,010,000 subscribers; this reproduces that state without the rest of the run.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("INSERT INTO categories (slug, name, position, created_at)"
                                 " VALUES ('tin-tuc', 'Tin tức', 0, now())"))  # fmt: skip
            conn.execute(
                sa.text(
                    "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                    " reads_every_category,"
                    " created_at, updated_at) SELECT g, 'dan' || g || '@example.vn',"
                    " 'active', 'vi', 0, false, now(), now() FROM generate_series(1, :n) g"
                ),
                {"n": n},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                    " SELECT g, (SELECT id FROM categories) FROM generate_series(1, :n) g"
                ),
                {"n": n},
            )
            conn.execute(sa.text("SELECT setval('subscribers_id_seq', :n)"), {"n": n})
            if settle:
                conn.execute(sa.text("VACUUM (ANALYZE)"))
                conn.execute(sa.text("CHECKPOINT"))
    finally:
        engine.dispose()
    log(f"seeded {n:,} subscribers in {time.perf_counter() - started:.1f}s"
        f"{' and settled' if settle else ''}")  # fmt: skip


@contextmanager
def null_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, str(HERE / "loadgen_raw.py"), str(port)])
    try:
        yield proc
    finally:
        services.stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=300, help="requests/s offered")
    parser.add_argument("--seconds", type=float, default=15, help="length of each run")
    parser.add_argument("--runs", type=int, default=1, help="runs (the median is printed)")
    parser.add_argument("--concurrency", type=int, default=100, help="loadgen connections")
    parser.add_argument("--workers", type=int, default=0, help="`newsletter web --workers`")
    parser.add_argument("--profile", action="store_true", help="record the web with py-spy")
    parser.add_argument("--gil", action="store_true", help="--profile: GIL holders only")
    parser.add_argument("--src", type=Path, default=None, help="run the web from this src/")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--null", action="store_true", help="load a do-nothing server instead")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--seed", type=int, default=0, help="subscribers stored beforehand")
    parser.add_argument(
        "--no-settle", action="store_true", help="--seed: skip VACUUM ANALYZE and CHECKPOINT"
    )
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:10]
    prefix = f"bench-sub-{run_id}:"
    results: list[loadgen.LoadResult] = []
    costs: list[dict[str, float]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sub-")))
        db_name = f"bench_sub_{run_id}"
        db_url = stack.enter_context(services.database(db_name))
        redis_url = stack.enter_context(services.redis_keys(prefix))
        migrate.upgrade(db_url)
        if args.seed:
            seed_subscribers(db_url, args.seed, settle=not args.no_settle)
        env = web_env(db_url, redis_url, prefix, tmp / "var", args.src)
        port = services.free_port()
        if args.null:
            web = stack.enter_context(null_server(port))
        else:
            command = ["web", "--port", str(port)]
            if args.workers:
                command += ["--workers", str(args.workers)]
            web = stack.enter_context(services.newsletter_process(command, env, tmp / "web.log"))
        services.wait_for_port(port)
        base = f"http://127.0.0.1:{port}"
        generator = loadgen_raw if args.client == "raw" else loadgen
        generator.load(base, rate=50, seconds=3)  # warm up: imports, pools, templates
        for run in range(args.runs):
            spy = None
            if args.profile:
                out = HERE / "out" / f"profile-subscribe-{run_id}-{run}.txt"
                out.parent.mkdir(exist_ok=True)
                spy = profile(web.pid, args.seconds, out, args.gil)
                time.sleep(1)  # py-spy attaches
            cpu = time.process_time()
            before = cpu_seconds(web.pid, db_name)
            result = generator.load(
                base, rate=args.rate, seconds=args.seconds, concurrency=args.concurrency
            )
            after = cpu_seconds(web.pid, db_name)
            cpu = time.process_time() - cpu
            per_request = {k: 1000 * (after[k] - before[k]) / max(result.done, 1) for k in after}
            costs.append(per_request)
            results.append(result)
            log(f"run {run + 1}: {result.row()}; CPU ms/request: web "
                f"{per_request['web']:.2f}, postgres {per_request['postgres']:.2f}, "
                f"generator {1000 * cpu / max(result.done, 1):.2f}")  # fmt: skip
            if spy is not None:
                spy.wait(timeout=120)
                log(f"profile: {out}")
                subprocess.run([sys.executable, str(HERE / "profile_top.py"), str(out), "45"])
        web_log = (tmp / "web.log").read_text(errors="replace") if not args.null else ""
        if web.poll() is not None:
            raise SystemExit("the web process died:\n" + web_log[-3000:])
        errors = [ln for ln in web_log.splitlines() if "Traceback" in ln or '"error"' in ln]
        if errors:
            log(f"web.log has {len(errors)} error lines, first: {errors[0]}")

    def median(key: str) -> float:
        return statistics.median(getattr(r, key) for r in results)

    statuses: dict[int, int] = {}
    for r in results:
        for code, count in r.statuses.items():
            statuses[code] = statuses.get(code, 0) + count
    summary = {
        "rate": args.rate,
        "seconds": args.seconds,
        "runs": len(results),
        "workers": args.workers or 1,
        "src": "null server" if args.null else str(args.src or "this checkout"),
        "client": args.client,
        "achieved": median("achieved"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "statuses": statuses,
        "errors": sum(r.errors for r in results),
        "web_cpu_ms": statistics.median(c["web"] for c in costs),
        "postgres_cpu_ms": statistics.median(c["postgres"] for c in costs),
    }
    print(
        f"subscribe at {args.rate:,.0f} req/s offered, {len(results)} run(s) of "
        f"{args.seconds:.0f}s, {summary['src']}, web workers {summary['workers']}, "
        f"{args.client} client: median "
        f"{summary['achieved']:,.0f} req/s achieved, p50 {summary['p50_ms']:.1f} ms, "
        f"p99 {summary['p99_ms']:.1f} ms; statuses {statuses}; "
        f"transport errors {summary['errors']}; CPU ms/request: web "
        f"{summary['web_cpu_ms']:.2f}, postgres {summary['postgres_cpu_ms']:.2f}"
    )
    if args.json:
        runs = [r.__dict__ for r in results]
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
