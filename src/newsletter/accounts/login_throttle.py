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
import time
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.window_counts import MemoryWindowCounts, RedisWindowCounts, WindowCounts

WINDOW_SECONDS = 15 * 60
CLIENT_FAILURES = 10  # wrong passwords per client network per window
NAME_FAILURES = 5  # wrong passwords per name per window before dirty clients are refused
DEFAULT_PREFIX = "newsletter:login-failures:"

FailureCounts = WindowCounts


class MemoryFailureCounts(MemoryWindowCounts):
    """Failures counted in this process (`window_counts.py`), in 15-minute windows."""

    def __init__(
        self, *, window_seconds: int = WINDOW_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(window_seconds=window_seconds, clock=clock)


class RedisFailureCounts(RedisWindowCounts):
    """Failures counted in Redis, shared by every web process; an outage counts none."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        window_seconds: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            url, prefix=prefix, window_seconds=window_seconds, what="login throttle", clock=clock
        )


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
