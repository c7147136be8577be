"""Logs a `newsletter` process's full garbage collections over 5 ms (run.py --gc-pauses).

On PYTHONPATH with BENCH_GC_LOG_DIR set, Python imports this at start in every process;
each `newsletter` process (and its forked pool children) appends
"<epoch seconds> <milliseconds> <what>" lines to DIR/<pid>.log. Other processes log nothing.
"""

from __future__ import annotations

import gc
import os
import sys
import time

_DIR = os.environ.get("BENCH_GC_LOG_DIR")
_started = 0.0


def _what() -> str | None:
    argv = sys.argv
    if not argv or not argv[0].endswith(("newsletter", "newsletter/__main__.py")):
        return None
    args = argv[1:]
    if args[:1] == ["worker"]:
        queues = next((a.split("=", 1)[1] for a in args if a.startswith("--queues=")), None)
        if queues is None and "--queues" in args:
            queues = args[args.index("--queues") + 1]
        return f"worker {queues}"
    return " ".join(args[:2]) if args[:1] == ["bulletin"] else (args[0] if args else "newsletter")


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _started
    if info["generation"] != 2:
        return
    if phase == "start":
        _started = time.perf_counter()
        return
    took = (time.perf_counter() - _started) * 1000
    what = _what()
    if took > 5 and what is not None and _DIR:
        with open(os.path.join(_DIR, f"{os.getpid()}.log"), "a") as out:
            out.write(f"{time.time() - took / 1000:.3f} {took:.1f} {what}\n")


if _DIR:
    gc.callbacks.append(_on_gc)
