"""Failed-login counts per client network and per user name, in fixed windows.

A client (an IPv4 address or IPv6 /64, as the web face keys it) that keeps failing is
refused before its password is even checked, so it cannot make the process run argon2
at its pace. A name that keeps failing is refused too, but only to clients that have
failed themselves: an official typing the right password from a clean client always
gets in, however many strangers guessed at the name. Known and unknown names are
counted alike (by a keyed hash of the name), so the answers say nothing about which
names exist.

With a Redis URL the counts (INCR, atomic) are shared by every web process; without
one they live in this process, which is enough for the single web process that runs
without Redis (`newsletter web --workers N` requires Redis).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from newsletter.config import Settings

WINDOW_SECONDS = 15 * 60
CLIENT_FAILURES = 10  # wrong passwords per client network per window
NAME_FAILURES = 5  # wrong passwords per name per window before dirty clients are refused
DEFAULT_PREFIX = "newsletter:login-failures:"

log = logging.getLogger(__name__)


class FailureCounts(Protocol):
    def get(self, key: str) -> int:
        """Failures counted against `key` in the current window."""
        ...

    def add(self, key: str) -> int:
        """Count one failure against `key`; the new count."""
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


class MemoryFailureCounts(_Window):
    """Counts in this process, under a lock; old windows are dropped as new ones start."""

    def __init__(
        self, *, window_seconds: int = WINDOW_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
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


class RedisFailureCounts(_Window):
    """Counts in Redis: INCR is atomic, so parallel failures from any process all count."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        window_seconds: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(window_seconds, clock)
        self.prefix = prefix
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}:{self.current()}"

    def get(self, key: str) -> int:
        try:
            value = self._client.get(self._name(key))
        except redis.RedisError as exc:
            # An outage must not lock the officials out: no count, said in the log.
            log.warning("login throttle unavailable (Redis): %s", exc)
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
            log.warning("login throttle unavailable (Redis): %s", exc)
            return 0
        return int(count)

    def clear(self, key: str) -> None:
        try:
            self._client.delete(self._name(key))
        except redis.RedisError as exc:
            log.warning("login throttle unavailable (Redis): %s", exc)

    def close(self) -> None:
        self._client.close()


@dataclass
class LoginThrottle:
    """The two counts and the rule that combines them."""

    counts: FailureCounts
    secret: bytes
    client_failures: int = CLIENT_FAILURES
    name_failures: int = NAME_FAILURES

    def _client(self, client: str) -> str:
        return "client:" + client

    def _name(self, username: str) -> str:
        typed = username.strip().casefold().encode("utf-8")
        return "name:" + hmac.new(self.secret, typed, hashlib.sha256).hexdigest()[:32]

    def wait_seconds(self, *, client: str, username: str) -> float:
        """0 when this attempt may be checked; else how long the client should wait."""
        failed = self.counts.get(self._client(client))
        if failed == 0:
            return 0.0  # a clean client's password is always checked
        if failed >= self.client_failures:
            return self.counts.seconds_left()
        if self.counts.get(self._name(username)) >= self.name_failures:
            return self.counts.seconds_left()
        return 0.0

    def failed(self, *, client: str, username: str) -> None:
        self.counts.add(self._client(client))
        self.counts.add(self._name(username))

    def succeeded(self, *, client: str, username: str) -> None:
        self.counts.clear(self._client(client))
        self.counts.clear(self._name(username))

    def close(self) -> None:
        self.counts.close()


def create_login_throttle(settings: Settings) -> LoginThrottle:
    counts: FailureCounts
    if settings.redis_url:
        counts = RedisFailureCounts(
            settings.redis_url, prefix=settings.redis_prefix + DEFAULT_PREFIX
        )
    else:
        counts = MemoryFailureCounts()
    secret = hashlib.sha256(b"login-throttle:" + settings.secret_key.encode()).digest()
    return LoginThrottle(counts=counts, secret=secret)
