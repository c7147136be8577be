"""Limits on subscribe requests, so one client cannot flood the form or one mailbox.

Two counts per fixed window of `window_seconds`, each with its own limit:
- per client network: an IPv4 address, or an IPv6 /64 (one subscriber line gets a whole
  /64, so counting single IPv6 addresses would give it unlimited tries). The limit is
  high, because one IPv4 address may be a carrier-grade NAT with thousands of mobile
  residents behind it, or a ward office's shared line on a signup day;
- per e-mail address, from any network: the same address submitted over and over
  (a mailbox being bombed through many IPs, or a script) is refused past a few.
With a Redis URL the counts are shared by every web process; without one they live in
this process (enough for the single-process default of a small town).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from newsletter.config import Settings
from newsletter.window_counts import MemoryWindowCounts, RedisWindowCounts, WindowCounts

DEFAULT_PREFIX = "newsletter:subscribe-ip:"
ADDRESS_PREFIX = "newsletter:subscribe-address:"
IPV6_PREFIX_LENGTH = 64


def client_key(ip: str) -> str:
    """The network a request is counted against: the IPv4 address, or the IPv6 /64.

    An IPv4 address mapped into IPv6 counts as that IPv4 address; anything unparsable
    (uvicorn says "unknown" without a peer) is counted as itself.
    """
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, IPV6_PREFIX_LENGTH), strict=False)
        return str(network)
    return str(address)


class IPLimiter(Protocol):
    def hit(self, key: str) -> bool:
        """Count one request against `key`; False when it is over the limit."""
        ...

    def close(self) -> None: ...


class _Limit:
    """A limit over window counts: a hit past `limit` in one window is refused."""

    def __init__(self, counts: WindowCounts, limit: int) -> None:
        self.counts = counts
        self.limit = limit

    def hit(self, key: str) -> bool:
        # A Redis outage counts 0: the request goes through rather than the form failing.
        return self.counts.add(key) <= self.limit

    def close(self) -> None:
        self.counts.close()


class MemoryIPLimiter(_Limit):
    """Counts in this process; old windows are dropped as new ones start."""

    def __init__(
        self, *, limit: int, window_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(MemoryWindowCounts(window_seconds=window_seconds, clock=clock), limit)


class RedisIPLimiter(_Limit):
    """Counts in Redis, shared by all processes (`window_counts.RedisWindowCounts`)."""

    def __init__(
        self,
        url: str,
        *,
        limit: int,
        window_seconds: int,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
    ) -> None:
        counts = RedisWindowCounts(
            url,
            prefix=prefix,
            window_seconds=window_seconds,
            what="subscribe rate limit",
            clock=clock,
        )
        super().__init__(counts, limit)


def create_ip_limiter(
    settings: Settings, *, prefix: str = DEFAULT_PREFIX, limit: int | None = None
) -> IPLimiter:
    """A counter of `limit` (default SUBSCRIBE_RATE_LIMIT) hits per key and window."""
    limit = settings.subscribe_rate_limit if limit is None else limit
    if settings.redis_url:
        return RedisIPLimiter(
            settings.redis_url,
            limit=limit,
            window_seconds=settings.subscribe_rate_window_seconds,
            prefix=prefix,
        )
    return MemoryIPLimiter(limit=limit, window_seconds=settings.subscribe_rate_window_seconds)


@dataclass
class SubscribeLimiter:
    """Both subscribe limits: per client network and per e-mail address."""

    networks: IPLimiter
    addresses: IPLimiter
    secret: bytes

    def admit_client(self, ip: str) -> bool:
        """Count a request from `ip` (every request, readable or not); False past the limit."""
        return self.networks.hit(client_key(ip))

    def admit_address(self, email: str) -> bool:
        """Count a request for `email`, as typed; False past the per-address limit.

        Keyed by an HMAC of the address, so Redis (or a dump of it) holds no address.
        """
        typed = email.strip().casefold().encode("utf-8")
        digest = hmac.new(self.secret, typed, hashlib.sha256).hexdigest()[:32]
        return self.addresses.hit(digest)

    def close(self) -> None:
        self.networks.close()
        self.addresses.close()


def create_subscribe_limiter(settings: Settings, *, prefix: str = "") -> SubscribeLimiter:
    """The two limits from SUBSCRIBE_RATE_LIMIT and SUBSCRIBE_ADDRESS_LIMIT; `prefix` goes
    before every Redis key (REDIS_PREFIX)."""
    return SubscribeLimiter(
        networks=create_ip_limiter(settings, prefix=prefix + DEFAULT_PREFIX),
        addresses=create_ip_limiter(
            settings, prefix=prefix + ADDRESS_PREFIX, limit=settings.subscribe_address_limit
        ),
        secret=hashlib.sha256(b"subscribe-limit:" + settings.secret_key.encode()).digest(),
    )
