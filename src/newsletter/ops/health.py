"""Readiness checks: can this process reach its database, its broker and its mail relay?"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from pathlib import Path

from kombu.connection import Connection
from sqlalchemy import Engine, text

from newsletter.config import Settings
from newsletter.delivery.transport import parse_smtp_url

CHECK_TIMEOUT = 3.0


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
