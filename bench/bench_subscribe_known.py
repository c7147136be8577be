"""Does POST /subscribe take longer for a known address? Medians, two versions side by side.

For each version of the code (this checkout's src/, and optionally another given with
--before DIR, e.g. `git archive <commit> src | tar -x -C /tmp/before`), a subprocess
starts the app under uvicorn on a fresh SQLite database with the embedded broker, then
posts the form for three kinds of address, interleaved in a shuffled order: new, pending
(asked before) and unsubscribed. It prints the median client-side time per kind.

Each request waits --gap-ms first, so it is timed on its own path, not behind the work
the previous request left to do after its answer.

Run:  .venv/bin/python bench/bench_subscribe_known.py [--before DIR] [--n 300] [--rounds 2]
      [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, random, socket, sys, tempfile, threading, time
from pathlib import Path
import httpx, uvicorn
from sqlalchemy import text
from newsletter import migrate
from newsletter.config import load_settings
from newsletter.web import create_app

n = int(sys.argv[1])
var = Path(tempfile.mkdtemp(prefix="bench-known-"))
settings = load_settings(env="test", var_dir=var, secret_key="bench-key-0123456789ABCDEFGHIJ",
                         subscribe_rate_limit=10**9, public_url="http://127.0.0.1")
migrate.upgrade(settings.database_url)
app = create_app(settings)
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
while not server.started:
    time.sleep(0.05)
client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
gap = float(sys.argv[2]) / 1000
def post(email):
    time.sleep(gap)  # lets the previous request's after-the-answer work finish first
    start = time.perf_counter()
    response = client.post("/subscribe", data={"email": email})
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed
for i in range(n):
    post(f"cho.{i}@example.vn"); post(f"huy.{i}@example.vn")
time.sleep(1.0)
with app.state.runtime.engine.begin() as conn:
    conn.execute(text("UPDATE subscribers SET status = 'unsubscribed' WHERE email LIKE 'huy.%'"))
for i in range(20):
    post(f"warm.{i}@example.vn")
times = {"new": [], "pending": [], "unsubscribed": []}
# Shuffled within each round: a fixed order would time one kind always ~50 ms after a
# new address, just when the confirmation publisher wakes up to publish its batch.
order = random.Random(17)
for i in range(n):
    kinds = [("new", f"moi.{i}@example.vn"), ("pending", f"cho.{i}@example.vn"),
             ("unsubscribed", f"huy.{i}@example.vn")]
    order.shuffle(kinds)
    for kind, email in kinds:
        times[kind].append(post(email))
server.should_exit = True
print(json.dumps(times))
"""


def run(src: Path, n: int, gap_ms: float) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["PYTHONPATH"] = str(src)
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(n), str(gap_ms)],
            env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"the run of {src} failed:\n{out.stderr[-3000:]}")
    times: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout's src/ to compare")
    parser.add_argument("--n", type=int, default=300, help="requests per kind of address")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per version")
    parser.add_argument("--gap-ms", type=float, default=20, help="pause before each request (ms)")
    args = parser.parse_args()
    versions = {"after": ROOT / "src"}
    if args.before:
        versions = {"before": args.before, **versions}
    pooled: dict[str, dict[str, list[float]]] = {name: {} for name in versions}
    for _ in range(args.rounds):
        for name, src in versions.items():
            for kind, values in run(src, args.n, args.gap_ms).items():
                pooled[name].setdefault(kind, []).extend(values)
    print(f"{'version':8} {'new':>9} {'pending':>9} {'unsubscribed':>13}  (median ms)")
    for name, kinds in pooled.items():
        medians = {k: statistics.median(v) * 1000 for k, v in kinds.items()}
        print(
            f"{name:8} {medians['new']:9.2f} {medians['pending']:9.2f}"
            f" {medians['unsubscribed']:13.2f}"
        )


if __name__ == "__main__":
    main()
