"""Counts per key in fixed time windows, in this process or shared through Redis.

The one counter behind the subscribe limits (`subscribers/ip_limit.py`) and the admin
login throttle (`accounts/login_throttle.py`). A window is `window_seconds` long and
numbered from the epoch; a new window starts every count at zero.

With Redis, INCR is atomic, so parallel hits from every process all count; each key
expires just after its window. A Redis outage must not lock residents or officials out:
the count is then 0 (nothing counted), said in the log. In memory the counts are this
process's, under a lock, and the old window's are dropped as a new one starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis

log = logging.getLogger(__name__)


class WindowCounts(Protocol):
    def get(self, key: str) -> int:
        """What was counted against `key` in the current window."""
        ...

    def add(self, key: str) -> int:
        """Count one against `key`; the new count (0 when it could not be counted)."""
        ...

    def clear(self, key: str) -> None: ...

    def seconds_left(self) -> float:
        """Seconds until the current window ends (and its counts with it)."""
        ...

    def close(self) -> None: ...


class _Window:
    def __init__(self, window_seconds: int, clock: Callable[[], float]) -> None:
        self.window_seconds = window_seconds
        self._clock = clock

    def current(self) -> int:
        return int(self._clock() // self.window_seconds)

    def seconds_left(self) -> float:
        return (self.current() + 1) * self.window_seconds - self._clock()


class MemoryWindowCounts(_Window):
    """Counts in this process, under a lock; old windows are dropped as new ones start."""

    def __init__(self, *, window_seconds: int, clock: Callable[[], float] = time.time) -> None:
        super().__init__(window_seconds, clock)
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def _roll(self) -> None:
        window = self.current()
        if window != self._window:
            self._window, self._counts = window, {}

    def get(self, key: str) -> int:
        with self._lock:
            self._roll()
            return self._counts.get(key, 0)

    def add(self, key: str) -> int:
        with self._lock:
            self._roll()
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def close(self) -> None:
        return None


class RedisWindowCounts(_Window):
    """Counts in Redis (INCR + EXPIRE on a key per counted key and window).

    `what` names the counts in the log line of an outage ("login throttle").
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        window_seconds: int,
        what: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(window_seconds, clock)
        self.prefix = prefix
        self.what = what
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}:{self.current()}"

    def _unavailable(self, exc: redis.RedisError) -> None:
        log.warning("%s unavailable (Redis): %s", self.what, exc)

    def get(self, key: str) -> int:
        try:
            value = self._client.get(self._name(key))
        except redis.RedisError as exc:
            self._unavailable(exc)
            return 0
        return int(value or 0)

    def add(self, key: str) -> int:
        name = self._name(key)
        pipe = self._client.pipeline()
        pipe.incr(name)
        pipe.expire(name, self.window_seconds + 1)
        try:
            count, _ = pipe.execute()
        except redis.RedisError as exc:
            self._unavailable(exc)
            return 0
        return int(count)

    def clear(self, key: str) -> None:
        try:
            self._client.delete(self._name(key))
        except redis.RedisError as exc:
            self._unavailable(exc)

    def close(self) -> None:
        self._client.close()
