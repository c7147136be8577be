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
    def acquire(self) -> None:
        """Block until one message may be sent; raise DailyCapError when the cap is used."""

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
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', KEYS[1], 3600)
  return {0, tostring((1 - tokens) / rate)}
end
if cap > 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= cap then
    return {-1, '0'}
  end
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], 172800)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return {1, '0'}
"""


class RedisBudget:
    """The bucket in Redis: one atomic script call per message, Redis's clock for all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(settings.redis_url)
        self.script = self.client.register_script(_BUCKET_SCRIPT)
        self.prefix = f"{settings.redis_prefix}newsletter:send-budget"

    def acquire(self) -> None:
        settings = self.settings
        while True:
            day = _day_key(settings, time.time())
            granted, wait = self.script(
                keys=[f"{self.prefix}:bucket", f"{self.prefix}:day:{day}"],
                args=[settings.send_rate, burst_for(settings.send_rate), settings.daily_cap],
            )
            if int(granted) == 1:
                return
            if int(granted) == -1:
                raise DailyCapError(f"daily cap of {settings.daily_cap} messages reached")
            time.sleep(min(MAX_WAIT_SECONDS, float(wait)))

    def close(self) -> None:
        self.client.close()


class FileBudget:
    """The bucket in a locked file: shared by the processes of one machine (embedded)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        self.path = Path(settings.var_dir) / "send-budget.json"

    def acquire(self) -> None:
        while True:
            wait = self._take()
            if wait <= 0:
                return
            time.sleep(min(MAX_WAIT_SECONDS, wait))

    def _take(self) -> float:
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
            wait = 0.0
            if tokens < 1:
                wait = (1 - tokens) / rate
            elif settings.daily_cap and used >= settings.daily_cap:
                raise DailyCapError(f"daily cap of {settings.daily_cap} messages reached")
            else:
                tokens -= 1
                used += 1
            data = json.dumps({"tokens": tokens, "ts": now, "day": day, "used": used}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            return wait
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def close(self) -> None:
        pass


def open_budget(settings: Settings) -> RedisBudget | FileBudget:
    """The shared budget: in Redis when a Redis URL is set, else the machine-local file."""
    if settings.redis_url:
        return RedisBudget(settings)
    return FileBudget(settings)
