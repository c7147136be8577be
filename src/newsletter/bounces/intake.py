"""Where bounces come in: a Maildir folder (a local MTA delivers the bounce domain
there; fetchmail/getmail can fill it from IMAP), a single file, or the HTTP API.

The bounce domain also receives the mails residents' clients send to List-Unsubscribe's
mailto (`unsubscribe+TOKEN@BOUNCE_DOMAIN`): those unsubscribe, as the https link does.

Each message is applied in its own transaction, so one bad message never blocks the
rest; a processed message moves to the Maildir's `processed` folder, one that could
not be read to `failed`, and nothing is deleted.
"""

from __future__ import annotations

import logging
import mailbox
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.bounces.parse import parse_report
from newsletter.bounces.rules import BounceOutcome, apply_report
from newsletter.runtime import Runtime

log = logging.getLogger(__name__)

MAX_BOUNCE_BYTES = 10 * 1024 * 1024
# Where the MTA says it delivered the mail; To last (a forwarded copy keeps the original To).


@dataclass
class IntakeSummary:
    processed: int = 0
    failed: int = 0
    actions: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: BounceOutcome) -> None:
        self.processed += 1
        self.actions[outcome.action] = self.actions.get(outcome.action, 0) + 1


def process_raw(runtime: Runtime, raw: bytes) -> BounceOutcome:
    """Parse one raw message and apply it, in a transaction of its own."""
    if len(raw) > MAX_BOUNCE_BYTES:
        return BounceOutcome("ignored", reason="message larger than 10 MB")
    report = parse_report(raw, runtime.settings)
    with runtime.sessions.begin() as session:
        outcome = apply_report(session, report=report, settings=runtime.settings)
    log.info(
        "bounce processed: action=%s delivery_id=%s reason=%s",
        outcome.action,
        outcome.delivery_id,
        outcome.reason,
    )
    return outcome


def process_path(runtime: Runtime, path: Path) -> IntakeSummary:
    """A single message file, or every message waiting in a Maildir folder."""
    summary = IntakeSummary()
    if path.is_file():
        summary.add(process_raw(runtime, path.read_bytes()))
        return summary
    if not (path / "new").is_dir() or not (path / "cur").is_dir():
        raise FileNotFoundError(f"{path} is neither a message file nor a Maildir folder")
    box = mailbox.Maildir(str(path), factory=None, create=False)
    done = _folder(box, "processed")
    failed = _folder(box, "failed")
    for key in list(box.iterkeys()):
        try:
            raw = box.get_bytes(key)
        except (OSError, KeyError):
            continue  # taken by another poller meanwhile
        try:
            summary.add(process_raw(runtime, raw))
        except (ValueError, LookupError, UnicodeError) as exc:
            log.warning("unreadable bounce message %s: %s", key, exc)
            summary.failed += 1
            failed.add(raw)
        else:
            done.add(raw)
        box.discard(key)
    return summary


def _folder(box: mailbox.Maildir, name: str) -> mailbox.Maildir:
    try:
        return box.get_folder(name)
    except mailbox.NoSuchMailboxError:
        return box.add_folder(name)


def poll_bounce_mailbox(runtime: Runtime) -> IntakeSummary | None:
    """The beat task's work: the configured bounce Maildir, if any."""
    folder = runtime.settings.bounce_maildir
    if folder is None:
        return None
    return process_path(runtime, folder)
