"""The standard reports: RFC 3464 delivery status notifications and RFC 5965 ARF
complaints, plus Microsoft's ARF-without-report-type.

Only the report's own parts are read: the enclosed original message (message/rfc822,
text/rfc822-headers) is quoted text, and a header in it — `X-Mailman-Version: 2.0.8` —
is never a status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses

from newsletter.bounces.classify import BounceKind, classify
from newsletter.bounces.report import RecipientFailure, mailbox

ENCLOSED = ("message/rfc822", "text/rfc822-headers")
_NOT_FAILURES = ("delivered", "relayed", "expanded")
# Feedback types that are a resident's complaint; auth-failure (DMARC forensic reports)
# speaks of a forged sender, not of anyone on our list.
_COMPLAINT_TYPES = ("abuse", "fraud", "virus", "other", "opt-out", "not-spam", "")


def report_parts(msg: Message) -> Iterator[Message]:
    """Every part of `msg` except what lies inside an enclosed original message."""
    yield msg
    if msg.get_content_type() in ENCLOSED or not msg.is_multipart():
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from report_parts(part)


def enclosed_original(msg: Message) -> Message | None:
    """The original message (or its headers) that a report encloses."""
    for part in report_parts(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return message_from_bytes(raw, policy=policy.compat32)
    return None


def field_blocks(part: Message) -> list[Message]:
    """The per-message and per-recipient field groups of a status or feedback part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        text = payload
        if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else payload
        blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
        return [message_from_bytes(b.encode("utf-8", "replace")) for b in blocks if b.strip()]
    return []


def _typed_address(value: object) -> str | None:
    """`rfc822; user@example.org` to a mailbox; an X.400 or unparsable value to None."""
    text = " ".join(str(value or "").split())
    kind, sep, rest = text.partition(";")
    if sep and kind.strip().lower() not in ("rfc822", "utf-8", "unknown"):
        return None
    return mailbox(rest if sep else text)


def _recipient(block: Message) -> str | None:
    # Original-Recipient is what we sent to; Final-Recipient may be an alias or a host-local
    # rewrite (`userx@sims-ms-daemon`). Either may be X.400, so the first valid one wins.
    for name in ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient"):
        address = _typed_address(block.get(name))
        if address:
            return address
    return None


def parse_dsn(msg: Message) -> list[RecipientFailure] | None:
    """The failed recipients of an RFC 3464 report; None when `msg` carries no status part."""
    found = False
    failures = []
    for part in report_parts(msg):
        if part.get_content_type() not in (
            "message/delivery-status",
            "message/global-delivery-status",
        ):
            continue
        for block in field_blocks(part):
            if not any(block.get(n) for n in ("Final-Recipient", "Original-Recipient")):
                continue
            found = True
            action = str(block.get("Action", "")).strip().lower()
            if action in _NOT_FAILURES:
                continue
            address = _recipient(block)
            if address is None:
                continue
            status = str(block.get("Status", "")).strip() or None
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split()) or None
            kind = BounceKind.SOFT if action == "delayed" else classify(status, diagnostic)
            failures.append(RecipientFailure(address, kind, status, diagnostic))
    return failures if found else None


def _original_recipients(original: Message | None) -> list[str]:
    """The one recipient of the enclosed original: Microsoft's unredacted
    X-HmXmrOriginalRecipient, else its To when that names a single mailbox."""
    if original is None:
        return []
    for header in ("X-HmXmrOriginalRecipient", "To"):
        values = [str(v) for v in original.get_all(header, [])]
        found = {m for m in (mailbox(a) for _n, a in getaddresses(values)) if m}
        # A mail of ours has exactly one recipient; a To with several is someone else's mail.
        if len(found) == 1:
            return sorted(found)
    return []


def is_microsoft_complaint(msg: Message) -> bool:
    """Outlook.com/Hotmail's JMRP report: multipart/mixed with the original attached."""
    sender = " ".join(a for _n, a in getaddresses([str(msg.get("From", ""))])).lower()
    subject = str(msg.get("Subject", "")).lower()
    return sender.endswith("@hotmail.com") and "complaint about message from" in subject


def parse_arf(msg: Message) -> tuple[str, list[RecipientFailure]] | None:
    """(feedback type, complaints) of an ARF report or Microsoft's variant; None if neither."""
    original = enclosed_original(msg)
    for part in report_parts(msg):
        if part.get_content_type() != "message/feedback-report":
            continue
        blocks = field_blocks(part)
        fields = blocks[0] if blocks else part
        feedback = str(fields.get("Feedback-Type", "abuse")).strip().lower()
        if feedback not in _COMPLAINT_TYPES:
            return feedback, []
        recipients = [_typed_address(v) for v in fields.get_all("Original-Rcpt-To") or []]
        named = [r for r in recipients if r] or _original_recipients(original)
        # No address at all: the VERP Return-Path of the original still names the delivery.
        return feedback, [
            RecipientFailure(r, BounceKind.COMPLAINT, None, feedback) for r in named or [""]
        ]
    if is_microsoft_complaint(msg):
        named = _original_recipients(original)
        return "abuse", [
            RecipientFailure(r, BounceKind.COMPLAINT, None, "abuse") for r in named or [""]
        ]
    return None
