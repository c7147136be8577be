"""`newsletter bulletin send --yes` from launch to exit: this checkout against another.

On SQLite and the embedded broker in a temporary directory (nothing to start), with N
active subscribers, the command is run `--runs` times for each side, alternating, and
the medians are printed. No worker runs: the batches stay queued. What it measures is
the part of an urgent bulletin's first-message latency that is the command itself
(imports, the campaign's start, enqueueing).

Run:  .venv/bin/python bench/bench_cli_start.py [--n 2000] [--runs 10] [--src DIR]

--src runs the other side from DIR/src (e.g. `git archive REV src templates | tar -x -C
/tmp/before`); without it both sides are this checkout, which shows the noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEWSLETTER = [sys.executable, "-m", "newsletter"]


def environment(var: Path, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_ENV": "development",
            "NEWSLETTER_VAR_DIR": str(var),
            "NEWSLETTER_APPROVAL_THRESHOLD": "100000000",  # no second official here
        }
    )
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*NEWSLETTER, *args], env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="active subscribers")
    parser.add_argument("--runs", type=int, default=10, help="runs per side")
    parser.add_argument("--src", type=Path, default=None, help="the other side's src/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        env = environment(root / "var", None)
        run(["db", "upgrade"], env, root)
        csv = root / "residents.csv"
        csv.write_text("email\n" + "".join(f"dan{i}@example.vn\n" for i in range(args.n)))
        run(["subscribers", "import", str(csv), "--consent-source", "bench"], env, root)
        body = root / "body.md"
        body.write_text("Nước sông lên nhanh: xin di chuyển lên chỗ cao.\n", encoding="utf-8")
        send = ["bulletin", "send", "--subject", "Cảnh báo lũ", "--body-file", str(body), "--yes"]
        sides = {"this checkout": env, "--src" if args.src else "this checkout again":
                 environment(root / "var", args.src)}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, side_env in sides.items():
                times[name].append(run(send, side_env, root))
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.3f} s "
              f"({', '.join(f'{v:.3f}' for v in sorted(values))})")  # fmt: skip
    first, second = (statistics.median(v) for v in times.values())
    print(f"ratio this / other: {first / second:.2f}")


if __name__ == "__main__":
    main()
