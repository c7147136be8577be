"""An open-loop load generator for POST /subscribe (wrk is not in Debian's default set here).

Requests are scheduled at a fixed rate; a request's latency is counted from its
*scheduled* start, so a server that falls behind shows it (no coordinated omission).
Concurrency is bounded; a request that cannot start within 1 s of its slot is counted late.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    rate: float  # requests/s asked
    seconds: float
    done: int
    achieved: float  # completed requests/s
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    errors: int
    # Requests slower than SLOW_MS by the wall-clock second (UTC) of their slot, worst
    # first: to line a tail up with the database's log and the kernel's writeback.
    slow: dict[str, int] = field(default_factory=dict)
    # The generator's own event loop late by this much at worst (its CPU or its garbage
    # collector): a request slot inside such a stall starts late and counts it as latency.
    client_stall_ms: float = 0.0
    client_gc_ms: float = 0.0  # its longest garbage collection while the load ran

    def row(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        slow = ", ".join(f"{k}: {v}" for k, v in self.slow.items())
        return (
            f"{self.achieved:,.0f} req/s achieved of {self.rate:,.0f} asked; "
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, max {self.max_ms:.0f} ms; "
            f"statuses {{{codes}}}; transport errors {self.errors}"
            + (f"; over {SLOW_MS} ms by second {{{slow}}}" if slow else "")
            + f"; client stalls ≤ {self.client_stall_ms:.0f} ms (gc ≤ {self.client_gc_ms:.0f} ms)"
        )


SLOW_MS = 100


def slow_by_second(samples: list[tuple[float, float]], top: int = 5) -> dict[str, int]:
    """(slot as epoch seconds, latency s) → the `top` seconds with most requests over SLOW_MS."""
    counts: dict[str, int] = {}
    for slot, latency in samples:
        if latency * 1000 > SLOW_MS:
            second = time.strftime("%H:%M:%S", time.gmtime(slot))
            counts[second] = counts.get(second, 0) + 1
    worst = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return dict(worst)


async def _load(url: str, rate: float, seconds: float, concurrency: int) -> LoadResult:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def one(i: int, slot: float) -> None:
            nonlocal errors
            async with sem:
                try:
                    response = await client.post(
                        "/subscribe",
                        json={"email": f"tai.{run}.{i}@example.vn", "name": "Người đọc"},
                    )
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                except httpx.HTTPError:
                    errors += 1
                    return
            latencies.append(time.perf_counter() - slot)

        start = time.perf_counter()
        total = int(rate * seconds)
        tasks = []
        for i in range(total):
            slot = start + i / rate
            delay = slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, slot)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    latencies.sort()
    ms = [x * 1000 for x in latencies] or [0.0]
    return LoadResult(
        rate=rate,
        seconds=elapsed,
        done=len(latencies),
        achieved=len(latencies) / elapsed,
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        max_ms=ms[-1],
        statuses=statuses,
        errors=errors,
    )


def load(url: str, *, rate: float = 300, seconds: float = 15, concurrency: int = 100) -> LoadResult:
    return asyncio.run(_load(url, rate, seconds, concurrency))
