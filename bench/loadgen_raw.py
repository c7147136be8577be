"""A lean open-loop load generator for POST /subscribe: raw HTTP/1.1 over asyncio streams.

Same schedule and accounting as loadgen.py (fixed rate, latency counted from each
request's *scheduled* start, at most `concurrency` requests in flight, one new address
per request), but it writes pre-built request bytes on keep-alive connections and reads
only the status line and Content-Length. httpx costs 3-5 ms of CPU per request here, so
on a 2-core machine loadgen.py cannot offer 300 req/s even to a server that answers
instantly (docs/benchmarks.md "Subscribe endpoint"); this one costs a few tenths of a ms.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
import uuid
from urllib.parse import urlsplit

from loadgen import LoadResult, slow_by_second

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Pool:
    """Keep-alive connections, opened on demand; at most `size` in use at once."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(size)

    async def get(self) -> tuple[Connection, bool]:
        """A connection and whether it was reused (the server may have closed it since)."""
        await self.slots.acquire()
        if self.idle:
            return self.idle.pop(), True
        try:
            return await self.open(), False
        except OSError:
            self.slots.release()
            raise

    async def open(self) -> Connection:
        return await asyncio.open_connection(self.host, self.port)

    def put(self, conn: Connection, *, reuse: bool) -> None:
        if reuse:
            self.idle.append(conn)
        else:
            conn[1].close()
        self.slots.release()

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


class _StallWatch:
    """How late this process's event loop runs, and how long its garbage collections take."""

    TICK = 0.005

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_gc = 0.0
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.worst_gc = max(self.worst_gc, time.perf_counter() - self._gc_started)

    async def watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.TICK)
            self.worst = max(self.worst, time.perf_counter() - before - self.TICK)

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)


async def _exchange(conn: Connection, request: bytes) -> tuple[int, bool]:
    """Send one request; (status, connection reusable)."""
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length:
        await reader.readexactly(length)
    return status, keep


async def _load(url: str, rate: float, seconds: float, concurrency: int) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    pool = _Pool(host, port, concurrency)
    run = uuid.uuid4().hex[:8]
    prefix = (
        f"POST /subscribe HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nUser-Agent: bench-loadgen-raw\r\n"
    ).encode()

    def request(i: int) -> bytes:
        body = json.dumps(
            {"email": f"tai.{run}.{i}@example.vn", "name": "Người đọc"}, ensure_ascii=False
        ).encode()
        return prefix + b"Content-Length: %d\r\n\r\n" % len(body) + body

    async def one(i: int, slot: float) -> None:
        nonlocal errors
        try:
            conn, reused = await pool.get()
        except OSError:
            errors += 1
            return
        try:
            try:
                status, keep = await _exchange(conn, request(i))
            except (OSError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                # The server closed this idle keep-alive connection (uvicorn: after 5 s)
                # as we reused it: nothing was processed, so send again on a new one,
                # as an HTTP client does.
                conn[1].close()
                conn = await pool.open()
                status, keep = await _exchange(conn, request(i))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pool.put(conn, reuse=False)
            errors += 1
            return
        pool.put(conn, reuse=keep)
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(time.perf_counter() - slot)
        samples.append((epoch + slot - start, latencies[-1]))

    samples: list[tuple[float, float]] = []
    # The caller's heap (bench/run.py holds a runtime, seeded rows, results) made one full
    # collection of this process take 73 ms mid-load: 25 requests late by the client's
    # fault. Frozen objects are not scanned again; the load's own garbage still is.
    gc.collect()
    gc.freeze()
    stall = _StallWatch()
    watcher = asyncio.create_task(stall.watch())
    epoch, start = time.time(), time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        slot = start + i / rate
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, slot)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    watcher.cancel()
    stall.close()
    gc.unfreeze()
    pool.close()
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
        slow=slow_by_second(samples),
        client_stall_ms=stall.worst * 1000,
        client_gc_ms=stall.worst_gc * 1000,
    )


def load(url: str, *, rate: float = 300, seconds: float = 15, concurrency: int = 100) -> LoadResult:
    return asyncio.run(_load(url, rate, seconds, concurrency))


_NULL_BODY = b'{"status": "ok"}'
_NULL_ANSWER = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_NULL_BODY), _NULL_BODY)
)


async def _null_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            writer.write(_NULL_ANSWER)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        writer.close()


async def _serve_null(port: int) -> None:
    server = await asyncio.start_server(_null_connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def serve_null(port: int) -> None:
    """A server that answers every request at once: the load generator's own ceiling."""
    asyncio.run(_serve_null(port))


if __name__ == "__main__":
    import sys

    serve_null(int(sys.argv[1]))
