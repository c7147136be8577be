"""Where a send's CPU goes: a bulletin (or digest) through a real worker, CPU per process.

Run:  .venv/bin/python bench/bench_send_cpu.py [-n 20000] [--bulletins 2] [--digest]
      [--concurrency N]
      PYTHONPATH=/tmp/before/src .venv/bin/python bench/bench_send_cpu.py   (another
      checkout's src/ and templates/, from `git archive`: the "before" column)

A fresh PostgreSQL database with N readers of `khan-cap`, Postfix's smtp-sink, DKIM on,
`newsletter worker --queues urgent,bulk` (the senders that `newsletter worker` starts).
Each bulletin is sent with `newsletter bulletin send --yes`, as an official would; with
`--digest`, a 10-article digest to N readers instead. For each it prints msg/s (launch
→ last accepted, and first → last accepted) and the CPU seconds every process on the
machine used meanwhile (from /proc, grouped: the worker's processes, PostgreSQL's, the
sink's), so the CPU per message of each part can be read off. Then the signed and the
marked references at the same message size (bench/reference.py), with their CPU.
Processes that end before the second reading (the CLI, the references' children and
their database sessions) are not in the split.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference
import run
import services
import urgent

from newsletter import migrate
from newsletter.config import Settings
from newsletter.runtime import build_runtime

TICKS = os.sysconf("SC_CLK_TCK")
CpuReading = collections.Counter[tuple[str, str]]


def cpu_now() -> CpuReading:
    """CPU seconds (user + system) of every process, keyed by (group, pid)."""
    out: CpuReading = collections.Counter()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        group = "postgres" if name.startswith("postgres") else name
        if any(b"newsletter" in a for a in argv[:2]):
            group = "worker processes"
        out[(group, pid)] += (int(fields[11]) + int(fields[12])) / TICKS
    return out


def cpu_split(before: CpuReading, after: CpuReading) -> dict[str, float]:
    used: collections.Counter[str] = collections.Counter()
    for (group, pid), seconds in after.items():
        used[group] += seconds - before.get((group, pid), 0.0)
    return {group: round(s, 2) for group, s in used.most_common(6) if s >= 0.05}


def per_message(split: dict[str, float], messages: int) -> str:
    parts = ", ".join(f"{g} {1000 * s / messages:.2f}" for g, s in split.items())
    return f"CPU ms per message: {parts}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20_000, help="recipients")
    parser.add_argument("--bulletins", type=int, default=2, help="bulletins sent one by one")
    parser.add_argument("--digest", action="store_true", help="a digest instead of bulletins")
    parser.add_argument("--concurrency", type=int, default=0, help="0: the worker's default")
    parser.add_argument("--ref-seconds", type=float, default=5)
    args = parser.parse_args()
    run.BULLETIN_N = 10 if args.digest else args.n
    run_id = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        rig = services.sending_rig(stack, f"bench_cpu_{run_id}")
        tmp, key_file, db_url, port, env = rig.tmp, rig.key_file, rig.db_url, rig.port, rig.env
        os.environ.update(env)
        settings = Settings()
        migrate.upgrade(db_url)
        digest_id, _, _ = run.seed(db_url, settings, args.n if args.digest else 1)
        run.settle(db_url)
        worker_args = ["worker", "--queues", "urgent,bulk"]
        if args.concurrency:
            worker_args += ["--concurrency", str(args.concurrency)]
        log = tmp / "worker.log"
        stack.enter_context(services.newsletter_process(worker_args, run.env_for(env), log))
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        runtime = build_runtime(settings)
        try:
            if args.digest:
                from newsletter.tasks.app import create_celery
                from newsletter.tasks.enqueue import start_and_enqueue

                app = create_celery(settings)
                before, launched = cpu_now(), time.time()
                start_and_enqueue(app, runtime, digest_id)
                run.wait_sent(runtime.sessions, digest_id)
                split = cpu_split(before, cpu_now())
                app.close()
                times = urgent.sent_times(db_url, digest_id)
                print(f"digest to {len(times):,}: {len(times) / (times[-1] - launched):,.0f} "
                      f"msg/s; {per_message(split, len(times))}")  # fmt: skip
                campaign_id = digest_id
            body = urgent.write_body(tmp / "bulletin.txt")
            for index in range(0 if args.digest else args.bulletins):
                before = cpu_now()
                launched, returned, campaign_id = urgent.send_bulletin(run.env_for(env), body)
                run.wait_sent(runtime.sessions, campaign_id)
                split = cpu_split(before, cpu_now())
                f = urgent.figures(db_url, campaign_id, launched, returned)
                print(f"bulletin {index + 1} to {f['n']:,}: {f['rate']:,.0f} msg/s from launch,"
                      f" {f['steady_rate']:,.0f} first → last; {per_message(split, int(f['n']))}",
                      flush=True)  # fmt: skip
            size = urgent.message_size(runtime, settings, campaign_id)
        finally:
            runtime.engine.dispose()
        for kind in run.REFERENCES:
            before = cpu_now()
            rate = reference.measure(kind, port, key_file, seconds=args.ref_seconds, size=size,
                                     db_url=db_url)  # fmt: skip
            sink = cpu_split(before, cpu_now()).get("smtp-sink", 0.0)
            print(f"reference {kind} at {size:,} B: {rate:,.0f} msg/s; sink CPU ms per message "
                  f"{1000 * sink / (rate * args.ref_seconds):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
