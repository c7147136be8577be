"""End-to-end benchmark: a bulletin and a digest through real workers, side by side with
the machine's own reference at each one's message size, plus a bulletin under a digest,
a worker SIGKILLed mid-bulletin, campaign start, worker RSS and the subscribe endpoint.
Prints a Markdown report; see docs/benchmarks.md.

Run:  make bench            (quick: N = 100,000, a 20,000-reader bulletin)
      make bench ARGS=--full (N = 1,000,000)
      make bench ARGS="-n 20000 --start-n 0 --load-seconds 5 --ref-seconds 5"  (minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen_raw as loadgen
import reference
import services
import urgent

from newsletter import migrate
from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.build import build_digest
from newsletter.config import Settings
from newsletter.models import Campaign, CampaignStatus, Category
from newsletter.runtime import build_runtime
from newsletter.tasks.app import create_celery
from newsletter.tasks.enqueue import enqueue, start_and_enqueue

REFERENCES = ("signed", "marked")
BULLETIN_N = 20_000  # readers of khan-cap, the bulletins' category (--bulletin-n)
LOADED_N = 100_000  # readers of the digest in flight during the bulletin and subscribe load
HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def seed(engine_url: str, settings: Settings, n: int) -> tuple[int, int, float]:
    """N digest readers (tin-tuc), BULLETIN_N bulletin readers (khan-cap), 10 articles.

    Returns (digest A, digest B, seconds): A goes to the N readers and is measured alone;
    B, a copy of A for the first min(N, LOADED_N) of them (who also read the-thao), is
    the digest in flight while the bulletin and the subscribe load are measured.
    """
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as session:
            session.add_all([Category(slug="tin-tuc", name="Tin tức"),
                             Category(slug="the-thao", name="Thể thao"),
                             Category(slug="khan-cap", name="Khẩn cấp")])  # fmt: skip
        start = time.perf_counter()
        with runtime.sessions.begin() as session:
            groups = ((1, n, "tin-tuc", "dan"), (n + 1, BULLETIN_N, "khan-cap", "khan"))
            for first, count, slug, prefix in groups:
                session.execute(
                    text(
                        "INSERT INTO subscribers (id, email, status, locale, bounce_score,"
                        " reads_every_category,"
                        " created_at, updated_at) SELECT g, :prefix || g || '@example.vn',"
                        " 'active', 'vi', 0, false, now(), now()"
                        " FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g"
                    ),
                    {"prefix": prefix, "a": first, "b": first + count - 1},
                )
                session.execute(
                    text(
                        "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                        " SELECT g, (SELECT id FROM categories WHERE slug = :slug)"
                        " FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g"
                    ),
                    {"slug": slug, "a": first, "b": first + count - 1},
                )
            session.execute(
                text(
                    "INSERT INTO subscriber_categories (subscriber_id, category_id)"
                    " SELECT g, (SELECT id FROM categories WHERE slug = 'the-thao')"
                    " FROM generate_series(1, CAST(:b AS bigint)) g"
                ),
                {"b": min(n, LOADED_N)},
            )
            session.execute(text("SELECT setval('subscribers_id_seq', :m)"), {"m": n + BULLETIN_N})
            now = dt.datetime.now(dt.UTC)
            for i in range(10):
                session.execute(
                    text(
                        "INSERT INTO articles (guid, url, title, summary, published_at,"
                        " first_seen_at, updated_at, category_id) VALUES (:g, :u, :t, :s, :p,"
                        " now(), now(), (SELECT id FROM categories WHERE slug = 'tin-tuc'))"
                    ),
                    {
                        "g": f"bench-{i}",
                        "u": f"https://example.gov.vn/tin-tuc/bai-{i}.html",
                        "t": f"Bài số {i}: Thành phố triển khai các biện pháp phòng chống bão",
                        "s": "Ủy ban nhân dân thành phố thông báo lịch cắt điện, cấp nước và "
                        "phân luồng giao thông trong tuần tới để phục vụ thi công. " * 3,
                        "p": now - dt.timedelta(hours=i + 1),
                    },
                )
        seeded = time.perf_counter() - start
        with runtime.sessions.begin() as session:
            session.execute(text("ANALYZE"))
            digest = build_digest(session, settings=settings, now=now)
            assert digest is not None
            digest.categories = [session.query(Category).filter_by(slug="tin-tuc").one()]
            loaded = Campaign(
                kind=digest.kind, period=f"{digest.period}-b", subject=digest.subject,
                window_start=digest.window_start, window_end=digest.window_end,
                status=CampaignStatus.DRAFT, created_by="bench", meta=digest.meta,
                categories=[session.query(Category).filter_by(slug="the-thao").one()],
            )  # fmt: skip
            session.add(loaded)
            session.flush()
            return digest.id, loaded.id, seeded
    finally:
        runtime.engine.dispose()


def settle(engine_url: str) -> None:
    """Let PostgreSQL finish with the seeding before anything is measured.

    Seeding writes hundreds of MB of WAL at 1,000,000; autovacuum and the next checkpoint
    would then work during the first subscribe load, whose every commit waits on the
    same disk (its p99 measured the seeding: 150–550 ms in early runs).
    """
    import sqlalchemy as sa

    engine = sa.create_engine(engine_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def start_only(n: int, base_env: dict[str, str]) -> tuple[float, float]:
    """Campaign start alone at `n` subscribers, on a database of its own: (seed s, start s)."""
    with services.database(f"bench_start_{uuid.uuid4().hex[:10]}") as url:
        settings = Settings(**{"database_url": url, "var_dir": base_env["NEWSLETTER_VAR_DIR"]})
        migrate.upgrade(url)
        digest_id, _, seeded = seed(url, settings, n)
        runtime = build_runtime(settings)
        try:
            t0 = time.perf_counter()
            with runtime.sessions.begin() as session:
                start_campaign(session, campaign_id=digest_id, batch_size=settings.batch_size)
            return seeded, time.perf_counter() - t0
        finally:
            runtime.engine.dispose()


def spy(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on one process: collapsed stacks (aggregate with bench/profile_top.py)."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
         "--duration", str(seconds), "--rate", "200", "--format", "raw", "--nonblocking",
         "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def env_for(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(settings_env)
    return env


class Sampler(threading.Thread):
    """Peak RSS of every worker process (the Celery parents and their pool children)."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.peak: dict[str, float] = {}
        self.series: list[tuple[float, dict[str, float]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            sample: dict[str, float] = {}
            for name, root in self.roots.items():
                for index, pid in enumerate(services.process_tree(root)):
                    label = f"{name}/{'main' if index == 0 else f'child{index}'}"
                    sample[label] = services.rss_mb(pid)
                    self.peak[label] = max(self.peak.get(label, 0.0), sample[label])
            self.series.append((time.time(), sample))


def wait_sent(runtime_sessions, campaign_id: int) -> None:  # type: ignore[no-untyped-def]
    while campaign_state(runtime_sessions, campaign_id)[0] is not CampaignStatus.SENT:
        time.sleep(0.25)


def campaign_state(runtime_sessions, campaign_id: int) -> tuple[CampaignStatus, int]:  # type: ignore[no-untyped-def]
    with runtime_sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        return campaign.status, campaign.sent_count


def urgent_waiting(redis_url: str, prefix: str) -> int:
    """Tasks waiting in the urgent queue (the confirmations of the subscribe load)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(f"{prefix}urgent"))
    finally:
        client.close()


GC_PROBE = Path(__file__).resolve().parent / "gc_pauses"


def gc_pauses(directory: Path, loads: list[tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Full collections over 5 ms per kind of process: how many, the longest, and those
    that began during a subscribe load (bench/gc_pauses/sitecustomize.py wrote them)."""
    found: dict[str, dict[str, float]] = {}
    for log_file in directory.glob("*.log"):
        for line in log_file.read_text().splitlines():
            at, took, what = line.split(" ", 2)
            row = found.setdefault(what, {"count": 0, "longest_ms": 0.0,
                                          "in_loads": 0, "longest_in_loads_ms": 0.0})  # fmt: skip
            row["count"] += 1
            row["longest_ms"] = max(row["longest_ms"], float(took))
            if any(start <= float(at) <= end for start, end in loads):
                row["in_loads"] += 1
                row["longest_in_loads_ms"] = max(row["longest_in_loads_ms"], float(took))
    return found


def machine() -> dict[str, str]:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split()[1]
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    import redis

    client = redis.Redis.from_url(services.REDIS_URL)
    try:
        redis_version = str(client.info("server")["redis_version"])
    finally:
        client.close()
    return {
        "cpu": f"{model}, {os.cpu_count()} cores",
        "memory": f"{int(mem) // 1024:,} MB",
        "python": platform.python_version(),
        "postgresql": pg,
        "redis": redis_version,
        "kernel": platform.release(),
    }


def main() -> None:
    global BULLETIN_N  # seed() reads it; --bulletin-n sets it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000,000 subscribers")
    parser.add_argument("-n", type=int, default=0, help="subscribers (overrides quick/full)")
    # Sending waits on round trips (SMTP, PostgreSQL), so twice as many processes as
    # cores overlap the waits (docs/benchmarks.md).
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="sending processes (0: the worker's default, two per core)",
    )
    parser.add_argument(
        "--bulletin-n", type=int, default=BULLETIN_N, help="bulletin readers (khan-cap)"
    )
    parser.add_argument(
        "--no-kill", action="store_true", help="skip the SIGKILL-mid-bulletin recovery figure"
    )
    parser.add_argument("--ref-seconds", type=float, default=10)
    parser.add_argument("--load-seconds", type=float, default=10)
    parser.add_argument("--load-rate", type=float, default=300)
    parser.add_argument("--profile", action="store_true", help="py-spy the bulk worker for 20 s")
    parser.add_argument("--start-n", type=int, default=None,
                        help="also time campaign start alone at this many subscribers "
                        "(default: 1,000,000 in quick mode, none with --full)")  # fmt: skip
    parser.add_argument("--gc-pauses", action="store_true",
                        help="log every newsletter process's full garbage collections")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None, help="PNG of throughput over time")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    BULLETIN_N = args.bulletin_n
    n = args.n or (1_000_000 if args.full else 100_000)
    if args.start_n is None:
        args.start_n = 0 if args.full else 1_000_000
    run_id = uuid.uuid4().hex[:10]
    results: dict[str, object] = {"n": n, "bulletin_n": BULLETIN_N, "machine": machine(),
                                  "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                  "command": " ".join(sys.argv)}  # fmt: skip
    log(f"bench run {run_id}: N={n:,}")
    with ExitStack() as stack:
        rig = services.sending_rig(stack, f"bench_{run_id}")
        tmp, key_file, db_url, port, env = rig.tmp, rig.key_file, rig.db_url, rig.port, rig.env
        redis_url, prefix = rig.redis_url, rig.prefix
        env.update(
            {
                "NEWSLETTER_SUBSCRIBE_RATE_LIMIT": "100000000",
                "NEWSLETTER_WEB_WORKERS": "2",  # as docker-compose runs it
            }
        )
        os.environ.update(env)  # Settings() below and `newsletter` children read the same
        gc_dir = tmp / "gc"
        if args.gc_pauses:
            gc_dir.mkdir()
            os.environ["BENCH_GC_LOG_DIR"] = str(gc_dir)
            os.environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(GC_PROBE), os.environ.get("PYTHONPATH")]))  # fmt: skip
        loads: list[tuple[float, float]] = []  # wall-clock windows of the subscribe loads
        settings = Settings()
        migrate.upgrade(db_url)
        digest_id, loaded_id, seeded = seed(db_url, settings, n)
        results["seed_seconds"] = seeded
        log(f"seeded {n + BULLETIN_N:,} subscribers in {seeded:.1f}s; digests #{digest_id}, "
            f"#{loaded_id}")  # fmt: skip
        settle(db_url)

        rate = reference.measure("bare", port, key_file, seconds=args.ref_seconds)
        results["ref_bare_before"] = rate
        log(f"reference bare: {rate:,.0f} msg/s")

        web_port = services.free_port()
        stack.enter_context(services.newsletter_process(
            ["web", "--port", str(web_port)], env_for(env), tmp / "web.log"))  # fmt: skip
        services.wait_for_port(web_port)
        base = f"http://127.0.0.1:{web_port}"
        loadgen.load(base, rate=50, seconds=2)  # warm up the web process
        loads.append((time.time(), 0.0))
        idle = loadgen.load(base, rate=args.load_rate, seconds=args.load_seconds)
        loads[-1] = (loads[-1][0], time.time())
        results["subscribe_idle"] = idle.__dict__
        log(f"subscribe, no digest in flight: {idle.row()}")

        # What `newsletter worker` (no flags) starts: the senders and the slow jobs. They
        # run as two processes here so the senders alone can be SIGKILLed and restarted.
        sender_args = ["worker", "--queues", "urgent,bulk"]
        if args.concurrency:
            sender_args += ["--concurrency", str(args.concurrency)]
        senders: list[subprocess.Popen[bytes]] = []

        def start_senders() -> None:
            senders.append(stack.enter_context(services.newsletter_process(
                sender_args, env_for(env), tmp / f"send-{len(senders)}.log")))  # fmt: skip

        start_senders()
        jobs = stack.enter_context(services.newsletter_process(
            ["worker", "--queues", "default"], env_for(env), tmp / "default.log"))  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            logs = (tmp / "send-0.log").read_text(errors="replace") + (
                tmp / "default.log"
            ).read_text(errors="replace")
            if logs.count(" ready.") >= 2:
                break
            time.sleep(0.3)
        else:
            raise RuntimeError("workers did not become ready:\n" + logs[-3000:])
        sampler = Sampler({"send": senders[0].pid, "default": jobs.pid})
        sampler.start()

        runtime = build_runtime(settings)
        app = create_celery(settings)
        reconciler = urgent.Reconciler(app, runtime)  # beat's entry, every RECONCILE_EVERY
        reconciler.start()
        try:
            # The confirmations of the first subscribe load go first (urgent queue), so
            # the bulletin and digest A run alone.
            while urgent_waiting(redis_url, prefix):
                time.sleep(0.2)
            body = urgent.write_body(tmp / "bulletin.txt")
            launched, returned, alone_id = urgent.send_bulletin(env_for(env), body)
            wait_sent(runtime.sessions, alone_id)
            results["bulletin_alone"] = urgent.figures(db_url, alone_id, launched, returned)
            log(f"bulletin alone: {results['bulletin_alone']}")
            sizes = {"bulletin": urgent.message_size(runtime, settings, alone_id),
                     "digest": urgent.message_size(runtime, settings, digest_id)}  # fmt: skip
            results["message_bytes"] = sizes
            # The references at each run's message size, with the workers idle: signed (the
            # target's yardstick) and marked (signed + one synchronous row update per
            # message, what the ledger's promise costs at the least; reference.py).
            for name, size in sizes.items():
                results[f"ref_bytes_{name}"] = reference.message_size(size, key_file)
                for kind in REFERENCES:
                    rate = reference.measure(kind, port, key_file, seconds=args.ref_seconds,
                                             size=size, db_url=db_url)  # fmt: skip
                    results[f"ref_{kind}_{name}_before"] = rate
                    log(f"reference {kind} at {name} size ({size:,} B): {rate:,.0f} msg/s")
            t_start = time.time()
            t0 = time.perf_counter()
            with runtime.sessions.begin() as session:
                work = start_campaign(
                    session, campaign_id=digest_id, batch_size=settings.batch_size
                )
            started = time.perf_counter() - t0
            enqueue(app, [work])
            enqueued = time.perf_counter() - t0 - started
            results["start_seconds"] = started
            results["enqueue_seconds"] = enqueued
            log(f"campaign start: {n:,} rows in {started:.2f}s; {len(work.ranges)} tasks enqueued"
                f" in {enqueued:.2f}s")  # fmt: skip
            profiles = []
            if args.profile:
                while campaign_state(runtime.sessions, digest_id)[1] < min(n // 5, 20_000):
                    time.sleep(0.2)
                children = services.process_tree(senders[0].pid)[1:]
                targets = [(f"send-{pid}", pid) for pid in children]
                for name, pid in targets:
                    out = tmp / f"profile-{name}.txt"
                    profiles.append((out, spy(pid, 20, out)))
            wait_sent(runtime.sessions, digest_id)
            log(f"digest A: {n:,} sent in {time.time() - t_start:.1f}s")

            # Digest B in flight: the bulletin, then the subscribe load, arrive during it.
            # B carries A's articles to readers who just got them, and an article reaches
            # a resident once (docs/delivery.md "Frequencies"): forget what A mailed them,
            # as a new week's articles would, or every row of B has nothing to send.
            with runtime.sessions.begin() as session:
                session.execute(text("UPDATE subscribers SET mailed_through = NULL"))
            t_loaded = time.time()
            start_and_enqueue(app, runtime, loaded_id)
            loaded_n = min(n, LOADED_N)
            while campaign_state(runtime.sessions, loaded_id)[1] < loaded_n // 5:
                time.sleep(0.2)
            bulletin_t0, returned, bulletin_id = urgent.send_bulletin(env_for(env), body)
            log(f"bulletin #{bulletin_id} started ({returned - bulletin_t0:.2f}s for the CLI)")
            # The bulletin's latency is measured with the digest in flight and nothing else;
            # the subscribe load comes after it.
            wait_sent(runtime.sessions, bulletin_id)
            results["bulletin_busy"] = urgent.figures(db_url, bulletin_id, bulletin_t0, returned)
            log(f"bulletin under digest B: {results['bulletin_busy']}")
            if campaign_state(runtime.sessions, loaded_id)[0] is CampaignStatus.SENT:
                log("warning: digest B ended before the subscribe load; raise LOADED_N")
            results["load_window"] = [time.time() - t_start]
            loads.append((time.time(), 0.0))
            busy = loadgen.load(base, rate=args.load_rate, seconds=args.load_seconds)
            loads[-1] = (loads[-1][0], time.time())
            results["load_window"].append(time.time() - t_start)  # type: ignore[attr-defined]
            results["subscribe_busy"] = busy.__dict__
            log(f"subscribe, digest in flight: {busy.row()}")
            wait_sent(runtime.sessions, loaded_id)
            if not args.no_kill:
                results["kill"] = urgent.kill_and_recover(
                    db_url, env_for(env), body, senders[-1], start_senders, total=BULLETIN_N
                )
                log(f"SIGKILL mid-bulletin: {results['kill']}")

            for out, proc in profiles:
                proc.wait(timeout=120)
                if out.exists():
                    dest = HERE / "out" / f"profile-{run_id}-{out.stem}.txt"
                    dest.parent.mkdir(exist_ok=True)
                    dest.write_bytes(out.read_bytes())
                    log(f"profile: {dest}")
        finally:
            reconciler.halt.set()
            reconciler.join()
            app.close()
            runtime.engine.dispose()
        sampler.halt.set()
        sampler.join()
        if args.gc_pauses:
            results["gc_pauses"] = gc_pauses(gc_dir, loads)
        # The references again, now the workers are idle: on a shared machine the load
        # can change during a run, so the ratios use the mean of before and after.
        for name, size in sizes.items():
            for kind in REFERENCES:
                rate = reference.measure(kind, port, key_file, seconds=args.ref_seconds,
                                         size=size, db_url=db_url)  # fmt: skip
                before = float(results[f"ref_{kind}_{name}_before"])  # type: ignore[arg-type]
                results[f"ref_{kind}_{name}_after"] = rate
                results[f"ref_{kind}_{name}"] = (before + rate) / 2
                log(f"reference {kind} at {name} size, after: {rate:,.0f} msg/s")
        rate = reference.measure("bare", port, key_file, seconds=args.ref_seconds)
        results["ref_bare_after"] = rate
        results["ref_bare"] = (float(results["ref_bare_before"]) + rate) / 2  # type: ignore[arg-type]
        # The digest is compared with the reference at its own size.
        for when in ("", "_before", "_after"):
            results[f"ref_signed{when}"] = results[f"ref_signed_digest{when}"]
        digest_times = urgent.sent_times(db_url, digest_id)
        loaded_times = urgent.sent_times(db_url, loaded_id)
        bulletin_times = urgent.sent_times(db_url, bulletin_id)
        total = digest_times[-1] - t_start
        results["e2e_rate"] = len(digest_times) / total
        results["e2e_seconds"] = total
        results["digest_sent"] = len(digest_times)
        per_second = _per_second(digest_times, t_start)
        middle = per_second[len(per_second) // 10 : len(per_second) * 9 // 10] or per_second
        results["steady_rate_median"] = statistics.median(middle)
        results["loaded_sent"] = len(loaded_times)
        results["loaded_rate"] = len(loaded_times) / (loaded_times[-1] - t_loaded)
        results["bulletin_first"] = bulletin_times[0] - bulletin_t0
        results["bulletin_last"] = bulletin_times[-1] - bulletin_t0
        results["bulletin_sent"] = len(bulletin_times)
        results["rss_peak_mb"] = sampler.peak
        results["rss_series"] = [(t - t_start, s) for t, s in sampler.series]
        if args.plot:
            _plot(args.plot, digest_times, loaded_times, bulletin_times, t_start, bulletin_t0,
                  results, sampler)  # fmt: skip
        if args.start_n:
            seeded_big, started_big = start_only(args.start_n, env)
            results["start_only_n"] = args.start_n
            results["start_only_seconds"] = started_big
            log(f"campaign start alone: {args.start_n:,} rows in {started_big:.2f}s "
                f"(seeding took {seeded_big:.1f}s)")  # fmt: skip
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))


def _per_second(times: list[float], t0: float) -> list[int]:
    if not times:
        return []
    buckets = [0] * (int(times[-1] - t0) + 1)
    for t in times:
        buckets[max(0, int(t - t0))] += 1
    return buckets


def _plot(path: Path, digest: list[float], loaded: list[float], bulletin: list[float], t0: float,
          b0: float, results: dict[str, object], sampler: Sampler) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_rss) = plt.subplots(2, 1, figsize=(10, 7), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})  # fmt: skip
    d = _per_second(digest, t0)
    b = _per_second(bulletin, t0)
    lo = _per_second(loaded, t0)
    ax.plot(range(len(d)), d, label=f"digest A to {len(digest):,}, alone", color="tab:blue")
    if lo:
        first = next(i for i, v in enumerate(lo) if v)
        label = f"digest B to {len(loaded):,}, under bulletin and subscribe load"
        ax.plot(range(first, len(lo)), lo[first:], color="tab:purple", label=label)
    if b:
        first = next(i for i, v in enumerate(b) if v)
        ax.plot(range(first, len(b)), b[first:], label=f"bulletin to {len(bulletin):,}",
                color="tab:red")  # fmt: skip
        ax.axvline(b0 - t0, color="tab:red", linestyle=":", label="`bulletin send` issued")
    for key, style, name in (("ref_signed", "--", "reference: signed"),
                             ("ref_bare", ":", "reference: bare")):  # fmt: skip
        ax.axhline(float(results[key]), color="gray", linestyle=style, label=name)  # type: ignore[arg-type]
    ax.axhline(0.8 * float(results["ref_signed"]), color="tab:green", linestyle="-.",  # type: ignore[arg-type]
               label="target: 0.8 × signed")  # fmt: skip
    start, end = results["load_window"]  # type: ignore[misc]
    ax.axvspan(start, end, color="orange", alpha=0.15, label="subscribe load (300 req/s)")
    ax.set_ylabel("messages accepted by the sink / s")
    ax.set_title(f"Digests to {results['n']:,} subscribers, RSA-2048 DKIM, PostgreSQL ledger "
                 f"— {results['date']}")  # fmt: skip
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    labels = sorted({k for _, s in sampler.series for k in s})
    for label in labels:
        xs = [t - t0 for t, s in sampler.series if label in s]
        ys = [s[label] for _, s in sampler.series if label in s]
        ax_rss.plot(xs, ys, label=label)
    ax_rss.set_ylabel("worker RSS (MB)")
    ax_rss.set_xlabel("seconds since campaign start")
    ax_rss.legend(loc="lower right", fontsize=7, ncol=3)
    ax_rss.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(r: dict[str, object]) -> None:
    def f(key: str) -> float:
        return float(r[key])  # type: ignore[arg-type]

    print(f"\n### Run {r['date']} — N = {r['n']:,}\n")
    print(f"Command: `{r['command']}`\n")
    for k, v in r["machine"].items():  # type: ignore[attr-defined]
        print(f"- {k}: {v}")
    print("\n| figure | value | target |\n|---|---|---|")
    sizes = r["message_bytes"]
    for name in ("bulletin", "digest"):
        print(f"| reference signed at the {name}'s size ({sizes[name]:,} B; "  # type: ignore[index]
              f"{r[f'ref_bytes_{name}']:,} B), mean of before and after | "
              f"{f(f'ref_signed_{name}'):,.0f} msg/s ({f(f'ref_signed_{name}_before'):,.0f} "
              f"before, {f(f'ref_signed_{name}_after'):,.0f} after) | |")  # fmt: skip
        print(f"| reference marked (signed + a synchronous row update per message) at the "
              f"{name}'s size | {f(f'ref_marked_{name}'):,.0f} msg/s "
              f"({f(f'ref_marked_{name}_before'):,.0f} before, "
              f"{f(f'ref_marked_{name}_after'):,.0f} after) = "
              f"{f(f'ref_marked_{name}') / f(f'ref_signed_{name}'):.2f} × signed | |")  # fmt: skip
    print(f"| reference bare (20 KB) | {f('ref_bare'):,.0f} msg/s | |")
    alone, busy = r["bulletin_alone"], r["bulletin_busy"]
    ref_b = f("ref_signed_bulletin")
    marked_b = f("ref_marked_bulletin")
    print(f"| **bulletin alone**, {alone['n']:,}: launch → last accepted | "  # type: ignore[index]
          f"{alone['rate']:,.0f} msg/s = **{alone['rate'] / ref_b:.2f} × signed**, "  # type: ignore[index]
          f"{alone['rate'] / marked_b:.2f} × marked "  # type: ignore[index]
          f"(first {alone['first']:.2f} s after launch, {alone['first_after_return']:.2f} s "  # type: ignore[index]
          f"after the CLI returned) | ≥ 0.8 × |")  # fmt: skip
    print(f"| **bulletin under digest B**, {busy['n']:,} | {busy['rate']:,.0f} msg/s = "  # type: ignore[index]
          f"{busy['rate'] / ref_b:.2f} × signed, **{busy['rate'] / alone['rate']:.2f} × alone** "  # type: ignore[index]
          f"(first {busy['first']:.2f} s, {busy['first_after_return']:.2f} s after return) | "  # type: ignore[index]
          "≥ 0.8 × alone |")  # fmt: skip
    if r.get("kill"):
        k = r["kill"]
        print(f"| SIGKILL of the senders mid-bulletin: their {k['held']:,} rows sent again "  # type: ignore[index]
              f"| {k['recovered_seconds']:.1f} s after the kill (bulletin done "  # type: ignore[index]
              f"{k['bulletin_done_after_kill']:.1f} s after) | ≤ 60 s |")  # fmt: skip
    print(f"| e2e digest A alone, start → last accepted | {f('e2e_rate'):,.0f} msg/s "
          f"({r['digest_sent']:,} in {f('e2e_seconds'):.1f} s) | |")  # fmt: skip
    print(f"| e2e steady state (median of per-second rates, middle 80 %) | "
          f"{f('steady_rate_median'):,.0f} msg/s | |")  # fmt: skip
    print(f"| digest B to {r['loaded_sent']:,}, under the bulletin and subscribe load | "
          f"{f('loaded_rate'):,.0f} msg/s | |")  # fmt: skip
    print(f"| ratio e2e / signed | {f('e2e_rate') / f('ref_signed'):.2f} | ≥ 0.8 |")
    print(f"| ratio e2e / marked | {f('e2e_rate') / f('ref_marked_digest'):.2f} | |")
    print(f"| ratio e2e / bare | {f('e2e_rate') / f('ref_bare'):.2f} | |")
    print(f"| campaign start: {r['n']:,} delivery rows | {f('start_seconds'):.2f} s "
          f"(+ {f('enqueue_seconds'):.2f} s enqueue) | 1M ≤ 15 s |")  # fmt: skip
    if r.get("start_only_n"):
        print(f"| campaign start alone: {r['start_only_n']:,} delivery rows | "
              f"{f('start_only_seconds'):.2f} s | ≤ 15 s |")  # fmt: skip
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["rss_peak_mb"].items()))  # type: ignore[attr-defined]
    print(f"| worker peak RSS (MB) | {peaks} | ≤ 200, flat |")
    print(f"| bulletin under digest B: first / all {r['bulletin_sent']:,} accepted | "
          f"{f('bulletin_first'):.2f} s / {f('bulletin_last'):.2f} s | ≤ 2 s / |")  # fmt: skip
    for key, name in (("subscribe_idle", "no digest"), ("subscribe_busy", "digest in flight")):
        s = r[key]
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items()))  # type: ignore[index]
        print(f"| subscribe, {name} | {s['achieved']:,.0f} req/s of {s['rate']:,.0f}; "  # type: ignore[index]
              f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms; {{{codes}}} | "  # type: ignore[index]
              "p99 ≤ 100 ms at 300 req/s |")  # fmt: skip
    for what, g in sorted(r.get("gc_pauses", {}).items()):  # type: ignore[attr-defined]
        print(f"| full collections over 5 ms, {what} | {g['count']:.0f}, longest "
              f"{g['longest_ms']:.0f} ms; during the subscribe loads {g['in_loads']:.0f}, "
              f"longest {g['longest_in_loads_ms']:.0f} ms | |")  # fmt: skip


if __name__ == "__main__":
    main()
