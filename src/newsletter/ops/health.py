"""Readiness checks: can this process reach its database, its broker and its mail relay?"""

from __future__ import annotations

import asyncio
import os
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kombu.connection import Connection
from sqlalchemy import Engine, text

from newsletter.config import Settings
from newsletter.delivery.transport import parse_smtp_url
from newsletter.runtime import Runtime

CHECK_TIMEOUT = 3.0
# How long one round of checks answers /readyz: a probe every second (or a stranger
# calling in a loop) then opens at most one SMTP and one broker connection per 5 s.
READINESS_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(engine: Engine) -> Check:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error: "not reachable"
        return Check("database", False, f"unreachable: {type(exc).__name__}: {_first_line(exc)}")
    return Check("database", True, engine.dialect.name)


def check_broker(settings: Settings) -> Check:
    try:
        with Connection(settings.broker_url, connect_timeout=CHECK_TIMEOUT) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    except Exception as exc:  # kombu raises transport-specific errors
        return Check("broker", False, f"unreachable: {type(exc).__name__}: {_first_line(exc)}")
    return Check("broker", True, settings.broker_url.split(":", 1)[0])


def check_smtp(settings: Settings) -> Check:
    url = settings.smtp_url
    if url.startswith("maildir:"):
        folder = Path(url.removeprefix("maildir:"))
        probe = folder if folder.exists() else folder.parent
        if probe.exists() and os.access(probe, os.W_OK):
            return Check("smtp", True, "maildir")
        return Check("smtp", False, f"outbox {folder} is not writable")
    cfg = parse_smtp_url(url)
    try:
        conn: smtplib.SMTP
        if cfg.implicit_tls:
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=CHECK_TIMEOUT)
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=CHECK_TIMEOUT)
        with conn:
            code, _ = conn.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp", False, f"unreachable {cfg.host}:{cfg.port}: {_first_line(exc)}")
    if code != 250:
        return Check("smtp", False, f"{cfg.host}:{cfg.port} answered {code} to NOOP")
    return Check("smtp", True, f"{cfg.host}:{cfg.port}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


class Readiness:
    """The last round of checks, reused for `ttl` seconds; one round runs at a time."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        ttl: float = READINESS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._runtime = runtime
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._checked_at = float("-inf")
        self._checks: list[Check] = []

    async def checks(self) -> list[Check]:
        async with self._lock:  # callers arriving during a round wait for its result
            if self._clock() - self._checked_at >= self._ttl:
                self._checks = list(
                    await asyncio.gather(
                        asyncio.to_thread(check_database, self._runtime.engine),
                        asyncio.to_thread(check_broker, self._runtime.settings),
                        asyncio.to_thread(check_smtp, self._runtime.settings),
                    )
                )
                self._checked_at = self._clock()
            return self._checks
