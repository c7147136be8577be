"""Reading bounces and complaints: RFC 3464 DSNs, RFC 5965 ARF reports, and the
non-standard formats of large providers and of Postfix/Exim (through flufl.bounce).

Parsing is pure: `parse_report(raw, settings)` says what a message reports; the rules
that change the store live in rules.py.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from newsletter.config import Settings
from newsletter.signing import Purpose, TokenError, read_resident_token, read_token

log = logging.getLogger(__name__)

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([45])\d\d\b")
VERP_LOCAL_PREFIX = "bounces+"
UNSUBSCRIBE_LOCAL_PREFIX = "unsubscribe+"


class BounceKind(StrEnum):
    HARD = "hard"  # the address does not exist: never mail it again
    SOFT = "soft"  # mailbox full, greylisted, server down: try later, count it
    POLICY = "policy"  # 5.7.x: refused for policy or spam; the address itself is fine
    COMPLAINT = "complaint"  # the resident marked a mail as spam


@dataclass(frozen=True)
class RecipientFailure:
    address: str
    kind: BounceKind
    status: str | None = None
    diagnostic: str | None = None


@dataclass
class BounceReport:
    """What one incoming message reports."""

    failures: list[RecipientFailure] = field(default_factory=list)
    # From the VERP address the bounce was sent to (signed, so it cannot be forged).
    delivery_id: int | None = None
    # From the unsubscribe token in the original message's List-Unsubscribe (ARF).
    subscriber_id: int | None = None
    feedback_type: str | None = None
    forged_verp: bool = False

    @property
    def kind(self) -> BounceKind | None:
        kinds = {f.kind for f in self.failures}
        for kind in (BounceKind.COMPLAINT, BounceKind.HARD, BounceKind.POLICY, BounceKind.SOFT):
            if kind in kinds:
                return kind
        return None


def classify_status(status: str | None, diagnostic: str | None = None) -> BounceKind:
    """RFC 3463 enhanced status (or a bare SMTP code in the diagnostic) to a kind."""
    text = f"{status or ''} {diagnostic or ''}"
    match = _STATUS.search(text)
    if match:
        klass, subject = match.group(1), match.group(2)
        if klass == "5":
            return BounceKind.POLICY if subject == "7" else BounceKind.HARD
        return BounceKind.SOFT
    code = _SMTP_CODE.search(diagnostic or "")
    if code and code.group(1) == "5":
        return BounceKind.HARD
    return BounceKind.SOFT


def classify_smtp_rejection(code: int, reply: str) -> BounceKind:
    """A rejection at SMTP time: 5xx is hard unless it is a 5.7.x policy refusal."""
    if 400 <= code < 500:
        return BounceKind.SOFT
    match = _STATUS.search(reply)
    if match and match.group(1) == "5" and match.group(2) == "7":
        return BounceKind.POLICY
    return BounceKind.HARD


def _verp_token(address: str, bounce_domain: str) -> str | None:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if domain.lower() != bounce_domain.lower() or not local.lower().startswith(VERP_LOCAL_PREFIX):
        return None
    return local[len(VERP_LOCAL_PREFIX) :]


def _verp_candidates(msg: Message) -> list[str]:
    values: list[str] = []
    for header in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Return-Path"):
        values.extend(str(v) for v in msg.get_all(header, []))
    return [addr for _name, addr in getaddresses(values) if addr]


def _find_delivery_id(msg: Message, settings: Settings, report: BounceReport) -> None:
    if not settings.bounce_domain:
        return
    for address in _verp_candidates(msg):
        token = _verp_token(address, settings.bounce_domain)
        if token is None:
            continue
        try:
            report.delivery_id = read_token(settings, Purpose.VERP, token)
            return
        except TokenError:
            report.forged_verp = True
            log.warning("ignored a bounce to a VERP address with an invalid signature")


def _embedded_original(msg: Message) -> Message | None:
    for part in msg.walk():
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


def _unsubscribe_subscriber_id(original: Message, settings: Settings) -> int | None:
    header = str(original.get("List-Unsubscribe", ""))
    for target in re.findall(r"<([^>]+)>", header):
        if target.lower().startswith("mailto:"):
            local = target[len("mailto:") :].split("@", 1)[0]
            if local.lower().startswith(UNSUBSCRIBE_LOCAL_PREFIX):
                token = local[len(UNSUBSCRIBE_LOCAL_PREFIX) :]
            else:
                continue
        else:
            token = target.rstrip("/").rsplit("/", 1)[-1]
            if "/unsubscribe/" not in target:
                continue
        try:
            # The id alone is enough: ids are never given twice, and an erased id finds no row.
            return read_resident_token(settings, Purpose.UNSUBSCRIBE, token)[0]
        except TokenError:
            continue
    return None


def _status_blocks(part: Message) -> list[Message]:
    """The per-message and per-recipient field groups of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        blocks = re.split(r"\r?\n\s*\r?\n", payload.strip())
        return [message_from_bytes(b.encode("utf-8", "replace")) for b in blocks if b.strip()]
    return []


def _address_field(value: object) -> str:
    text = str(value or "")
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").lower()


def _parse_dsn(msg: Message) -> list[RecipientFailure]:
    failures = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part):
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            action = str(block.get("Action", "")).strip().lower()
            if not recipient or action in ("delivered", "relayed", "expanded"):
                continue
            status = str(block.get("Status", "")).strip() or None
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split()) or None
            kind = classify_status(status, diagnostic)
            if action == "delayed":
                kind = BounceKind.SOFT
            failures.append(RecipientFailure(_address_field(recipient), kind, status, diagnostic))
    return failures


def _parse_arf(msg: Message, report: BounceReport) -> list[RecipientFailure]:
    for part in msg.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        blocks = _status_blocks(part)
        fields = blocks[0] if blocks else part
        report.feedback_type = str(fields.get("Feedback-Type", "abuse")).strip().lower()
        recipients = [
            _address_field(v) for v in (fields.get_all("Original-Rcpt-To") or []) if v
        ] or [""]
        return [
            RecipientFailure(r, BounceKind.COMPLAINT, None, report.feedback_type)
            for r in recipients
        ]
    return []


def _heuristic_status(msg: Message) -> tuple[str | None, str | None]:
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode("utf-8", "replace")
        match = _STATUS.search(text)
        if match:
            line = next((ln.strip() for ln in text.splitlines() if match.group(0) in ln), None)
            return match.group(0), line
        code = re.search(r"\b(5\d\d|4\d\d)[ -:]", text)
        if code:
            line = next((ln.strip() for ln in text.splitlines() if code.group(1) in ln), None)
            return None, line
    return None, None


def _parse_nonstandard(msg: Message) -> list[RecipientFailure]:
    # Imported here: the ledger (delivery/ledger.py → bounces/rules.py → this module) is on every
    # path, an urgent bulletin's CLI included; flufl.bounce's detectors only on this one.
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(msg)
    except (IndexError, KeyError, ValueError, TypeError, AttributeError, UnicodeError) as exc:
        # flufl.bounce's heuristic detectors trip over odd messages (no From, say);
        # such a message is simply not a bounce we recognise.
        log.info("bounce detectors could not read a message: %r", exc)
        return []
    status, diagnostic = _heuristic_status(msg)
    failures = []
    for raw in sorted(permanent):
        address = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        kind = classify_status(status, diagnostic) if (status or diagnostic) else BounceKind.HARD
        if kind is BounceKind.SOFT:
            kind = BounceKind.HARD  # the detector saw a permanent failure
        failures.append(RecipientFailure(address.lower(), kind, status, diagnostic))
    for raw in sorted(temporary - permanent):
        address = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        failures.append(RecipientFailure(address.lower(), BounceKind.SOFT, status, diagnostic))
    return failures


def parse_report(raw: bytes, settings: Settings) -> BounceReport:
    """Everything a bounce or complaint message tells: who failed, how, for which delivery."""
    msg = message_from_bytes(raw, policy=policy.compat32)
    report = BounceReport()
    _find_delivery_id(msg, settings, report)
    original = _embedded_original(msg)
    if original is not None:
        report.subscriber_id = _unsubscribe_subscriber_id(original, settings)
        if report.delivery_id is None and not report.forged_verp and settings.bounce_domain:
            # ARF reports carry the original message; its Return-Path is our VERP address.
            _find_delivery_id(original, settings, report)
    report_type = str(msg.get_param("report-type", "", header="content-type") or "").lower()
    if msg.get_content_type() == "multipart/report" and report_type == "feedback-report":
        report.failures = _parse_arf(msg, report)
    elif msg.get_content_type() == "multipart/report" and _parse_dsn(msg):
        report.failures = _parse_dsn(msg)
    else:
        report.failures = _parse_nonstandard(msg)
    return report
