"""Logging: JSON lines in production, readable lines in development; addresses masked.

Send-path code passes `extra={"campaign_id": ..., "delivery_id": ...}`; both formatters
print those fields, so every line about a send can be traced to its ledger row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys

from newsletter.config import Settings

CONTEXT_FIELDS = ("campaign_id", "delivery_id", "feed_id", "task_id", "queue")
# The local part takes RFC 5322's atext; a domain label is anything but spaces, dots and
# delimiters, so an IDN domain in any script (an@hà-nội.vn, the form we store) matches.
_LABEL = r"[^\s@<>()\[\]:;,\"'`/\\.]+"
_EMAIL = re.compile(rf"([\w.!#$%&'*+/=?^`{{|}}~-]{{1,64}})@({_LABEL}(?:\.{_LABEL})+)")
# The same address percent-encoded in a URL (an admin search `?q=an.nguyen%40example.vn`),
# once or more (`%2540`): the local part may hold %XX escapes itself, but not the `@`'s;
# `=` and `&` separate query fields there (in an address they arrive as %3D and %26).
_ENCODED_AT = r"%(?:25)*40"
_ENCODED_EMAIL = re.compile(
    rf"((?:[\w.!#$'*+^`{{|}}~-]|%(?!(?:25)*40)[0-9a-f]{{2}}){{1,192}})({_ENCODED_AT})"
    rf"({_LABEL}(?:\.{_LABEL})+)",
    re.IGNORECASE,
)
# A signed link is a resident's key to their subscription: never in a log line (uvicorn's
# access log writes every path).
_TOKEN_PATH = re.compile(r"(/(?:confirm|unsubscribe|preferences)/)[^\s/?\"']+")


def mask_email(address: str) -> str:
    """`an.nguyen@example.vn` → `a***@example.vn`: enough to recognise, not to harvest."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_emails_in(text: str) -> str:
    """`text` with every address masked, plain or percent-encoded."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)[0]}***@{m.group(2)}", text)
    return _ENCODED_EMAIL.sub(lambda m: f"{m.group(1)[0]}***{m.group(2)}{m.group(3)}", text)


def redact(text: str) -> str:
    """`text` with addresses masked and link tokens replaced by `***`."""
    return _TOKEN_PATH.sub(r"\1***", mask_emails_in(text))


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class ReadableFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        return redact(f"{line} [{context}]" if context else line)


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Install one handler on the root logger (idempotent: a second call replaces it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ReadableFormatter() if settings.is_development else JSONFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_newsletter", False):
            root.removeHandler(existing)
    handler._newsletter = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
