"""One send budget, NEWSLETTER_SEND_RATE messages/s, shared by every worker.

A token bucket plus an optional daily cap (NEWSLETTER_DAILY_CAP, counted per day in
NEWSLETTER_TIMEZONE). With Redis the bucket lives in Redis and one Lua script takes a
token atomically, on Redis's own clock, so adding workers on more hosts never raises
the rate. Without Redis (the embedded defaults) the bucket is a small file under
NEWSLETTER_VAR_DIR guarded by an exclusive lock: every process on the machine shares it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import redis

from newsletter.config import Settings

# Longest single sleep while waiting for a token, so a waiting batch notices a stop soon.
MAX_WAIT_SECONDS = 1.0


class DailyCapError(Exception):
    """The day's send cap is used up; sending resumes the next day (in TIMEZONE)."""


class SendBudget(Protocol):
    def acquire(self, count: int = 1) -> int:
        """Block until at least one message may be sent; return how many (1 to `count`).

        Raise DailyCapError when the day's cap is used up. Taking the tokens for several
        messages in one call saves a round trip per message (docs/benchmarks.md); the
        bucket never holds more than a tenth of a second's worth, so the rate still holds.
        """

    def give_back(self, count: int) -> None:
        """Return tokens taken but not used (a batch that stopped early)."""

    def close(self) -> None: ...


def burst_for(rate: float) -> float:
    # A tenth of a second's worth of tokens (at least one): smooth enough that the
    # provider sees the configured rate over any second, not a burst at the start.
    return max(1.0, rate / 10)


def _day_key(settings: Settings, now: float) -> str:
    return dt.datetime.fromtimestamp(now, ZoneInfo(settings.timezone)).strftime("%Y-%m-%d")


_BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], 3600)
  return {0, tostring((1 - tokens) / rate)}
end
local grant = math.min(want, math.floor(tokens))
if cap > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= cap then
    return {-1, '0'}
  end
  grant = math.min(grant, cap - used)
  redis.call('INCRBY', KEYS[2], grant)
  redis.call('EXPIRE', KEYS[2], 172800)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - grant), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return {grant, '0'}
"""

_GIVE_BACK_SCRIPT = """
local burst = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(burst, tokens + count)))
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used > 0 then
  redis.call('SET', KEYS[2], math.max(0, used - count), 'KEEPTTL')
end
return 1
"""


class RedisBudget:
    """The bucket in Redis: one atomic script call per grant, Redis's clock for all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(settings.redis_url)
        self.script = self.client.register_script(_BUCKET_SCRIPT)
        self.give_back_script = self.client.register_script(_GIVE_BACK_SCRIPT)
        self.prefix = f"{settings.redis_prefix}newsletter:send-budget"

    def _keys(self) -> list[str]:
        day = _day_key(self.settings, time.time())
        return [f"{self.prefix}:bucket", f"{self.prefix}:day:{day}"]

    def acquire(self, count: int = 1) -> int:
        settings = self.settings
        while True:
            granted, wait = self.script(
                keys=self._keys(),
                args=[
                    settings.send_rate,
                    burst_for(settings.send_rate),
                    settings.daily_cap,
                    max(1, count),
                ],
            )
            if int(granted) > 0:
                return int(granted)
            if int(granted) == -1:
                raise DailyCapError(f"daily cap of {settings.daily_cap} messages reached")
            time.sleep(min(MAX_WAIT_SECONDS, float(wait)))

    def give_back(self, count: int) -> None:
        if count > 0:
            self.give_back_script(
                keys=self._keys(), args=[burst_for(self.settings.send_rate), count]
            )

    def close(self) -> None:
        self.client.close()


class FileBudget:
    """The bucket in a locked file: shared by the processes of one machine (embedded)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.path = Path(settings.var_dir) / "send-budget.json"

    def acquire(self, count: int = 1) -> int:
        while True:
            granted, wait = self._take(max(1, count))
            if granted:
                return granted
            time.sleep(min(MAX_WAIT_SECONDS, wait))

    def give_back(self, count: int) -> None:
        if count > 0:
            self._update(give_back=count)

    def _take(self, want: int) -> tuple[int, float]:
        """(tokens granted, seconds to wait when none)."""
        return self._update(want=want)

    def _update(self, *, want: int = 0, give_back: int = 0) -> tuple[int, float]:
        """Take up to `want` tokens, or put `give_back` tokens back, under the file lock."""
        settings = self.settings
        rate, burst = settings.send_rate, burst_for(settings.send_rate)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 4096, 0)
            state = json.loads(raw) if raw.strip() else {}
            now = time.time()
            tokens = min(
                burst,
                float(state.get("tokens", burst))
                + max(0.0, now - float(state.get("ts", now))) * rate,
            )
            day = _day_key(settings, now)
            used = int(state.get("used", 0)) if state.get("day") == day else 0
            granted, wait = 0, 0.0
            if give_back:
                tokens = min(burst, tokens + give_back)
                used = max(0, used - give_back)
            elif tokens < 1:
                wait = (1 - tokens) / rate
            elif settings.daily_cap and used >= settings.daily_cap:
                raise DailyCapError(f"daily cap of {settings.daily_cap} messages reached")
            else:
                granted = min(want, int(tokens))
                if settings.daily_cap:
                    granted = min(granted, settings.daily_cap - used)
                tokens -= granted
                used += granted
            data = json.dumps({"tokens": tokens, "ts": now, "day": day, "used": used}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            return granted, wait
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def close(self) -> None:
        pass


def open_budget(settings: Settings) -> RedisBudget | FileBudget:
    """The shared budget: in Redis when a Redis URL is set, else the machine-local file."""
    if settings.redis_url:
        return RedisBudget(settings)
    return FileBudget(settings)
