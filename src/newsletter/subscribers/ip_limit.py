"""Per-IP limit on subscribe requests, so one client cannot flood the form.

Fixed windows of `window_seconds`: at most `limit` requests per IP per window. With a
Redis URL the count is shared by every web process; without one it lives in this
process (enough for the single-process default of a small town).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

from newsletter.config import Settings

DEFAULT_PREFIX = "newsletter:subscribe-ip:"

log = logging.getLogger(__name__)


class IPLimiter(Protocol):
    def hit(self, ip: str) -> bool:
        """Count one request from `ip`; False when it is over the limit."""
        ...

    def close(self) -> None: ...


class MemoryIPLimiter:
    """Counts in this process; old windows are dropped as new ones start."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, ip: str) -> bool:
        window = int(self._clock() // self.window_seconds)
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            count = self._counts.get(ip, 0) + 1
            self._counts[ip] = count
        return count <= self.limit

    def close(self) -> None:
        return None


class RedisIPLimiter:
    """Counts in Redis (INCR + EXPIRE on a key per IP and window), shared by all processes."""

    def __init__(
        self,
        url: str,
        *,
        limit: int,
        window_seconds: int,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.prefix = prefix
        self._clock = clock
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def hit(self, ip: str) -> bool:
        window = int(self._clock() // self.window_seconds)
        key = f"{self.prefix}{ip}:{window}"
        pipe = self._client.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.window_seconds + 1)
        try:
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            # A Redis outage must not take the subscribe form down with it: let the
            # request through and say so in the log.
            log.warning("subscribe rate limit unavailable (Redis): %s", exc)
            return True
        return int(count) <= self.limit

    def close(self) -> None:
        self._client.close()


def create_ip_limiter(settings: Settings, *, prefix: str = DEFAULT_PREFIX) -> IPLimiter:
    if settings.redis_url:
        return RedisIPLimiter(
            settings.redis_url,
            limit=settings.subscribe_rate_limit,
            window_seconds=settings.subscribe_rate_window_seconds,
            prefix=prefix,
        )
    return MemoryIPLimiter(
        limit=settings.subscribe_rate_limit,
        window_seconds=settings.subscribe_rate_window_seconds,
    )
