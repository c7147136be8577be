"""Reading bounces and complaints: which reader understands a message, and for whom.

Parsing is pure: `parse_report(raw, settings)` says what a message reports; the rules
that change the store live in rules.py. Readers are tried from the most structured to
the most heuristic — ARF, RFC 3464 DSN, Amazon SES JSON, the MTAs' own wordings
(providers.py), then the auto-reply check, then flufl.bounce's detectors — and the
first that recognises the message decides it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses

from newsletter.bounces.autoreply import is_auto_reply, is_automatic
from newsletter.bounces.classify import STATUS, BounceKind, classify, classify_smtp_rejection
from newsletter.bounces.dsn import enclosed_original, parse_arf, parse_dsn
from newsletter.bounces.providers import amazon_ses, read_text_formats, report_text
from newsletter.bounces.report import BounceReport, RecipientFailure, mailbox
from newsletter.config import Settings
from newsletter.signing import Purpose, TokenError, read_resident_token, read_token

__all__ = [
    "BounceKind",
    "BounceReport",
    "RecipientFailure",
    "classify_smtp_rejection",
    "parse_report",
]

log = logging.getLogger(__name__)

VERP_LOCAL_PREFIX = "bounces+"
UNSUBSCRIBE_LOCAL_PREFIX = "unsubscribe+"
# Header lines quoted inline by old MTAs: a version in them ("X-Mailman-Version: 2.0.8")
# must not be read as a status.
_QUOTED_HEADER = re.compile(
    r"^\s*(?:X-[\w-]+|Received|Message-I[dD]|Date|From|To|Cc|Subject|MIME-Version|"
    r"Content-[\w-]+|Return-Path|References|In-Reply-To|Sender|Errors-To|Precedence|"
    r"List-[\w-]+|User-Agent|Delivered-To|Received-SPF|Authentication-Results|DKIM-Signature|"
    r"ARC-[\w-]+):.*$",
    re.IGNORECASE | re.MULTILINE,
)


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
    _delivery_from(_verp_candidates(msg), settings, report)


def _delivery_from(addresses: list[str], settings: Settings, report: BounceReport) -> None:
    if not settings.bounce_domain:
        return
    for address in addresses:
        token = _verp_token(address, settings.bounce_domain)
        if token is None:
            continue
        try:
            report.delivery_id = read_token(settings, Purpose.VERP, token)
            return
        except TokenError:
            report.forged_verp = True
            log.warning("ignored a bounce to a VERP address with an invalid signature")


def _unsubscribe_request(msg: Message, settings: Settings) -> tuple[int, str] | None:
    """(subscriber id, link key) of the signed unsubscribe+TOKEN address this mail was
    sent to; rules.py acts only when the key is still the subscriber's."""
    for address in _verp_candidates(msg):
        local = address.strip().strip("<>").rpartition("@")[0]
        if not local.lower().startswith(UNSUBSCRIBE_LOCAL_PREFIX):
            continue
        try:
            token = local[len(UNSUBSCRIBE_LOCAL_PREFIX) :]
            return read_resident_token(settings, Purpose.UNSUBSCRIBE, token)
        except TokenError:
            log.warning("ignored a mail to an unsubscribe address with an invalid signature")
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


def _heuristic(msg: Message, permanent: set[str], temporary: set[str]) -> list[RecipientFailure]:
    """flufl.bounce found addresses; the report's own text (never the quoted headers) says how."""
    text = _QUOTED_HEADER.sub("", report_text(msg))
    match = STATUS.search(text)
    status = match.group(0) if match else None
    line = None
    if match:
        line = next((ln.strip() for ln in text.splitlines() if status and status in ln), None)
    kind = classify(status, " ".join(text.split())[:4000], default=BounceKind.HARD)
    failures = [RecipientFailure(a, kind, status, line) for a in sorted(permanent)]
    failures += [
        RecipientFailure(a, BounceKind.SOFT, status, line) for a in sorted(temporary - permanent)
    ]
    return failures


def _flufl(msg: Message) -> list[RecipientFailure]:
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

    def valid(found: Iterable[bytes | str]) -> set[str]:
        decoded = (a.decode("utf-8", "replace") if isinstance(a, bytes) else a for a in found)
        return {m for m in map(mailbox, decoded) if m}

    return _heuristic(msg, valid(permanent), valid(temporary))


def _read(
    msg: Message, report: BounceReport, settings: Settings
) -> tuple[str | None, list[RecipientFailure]]:
    arf = parse_arf(msg)
    if arf is not None:
        report.feedback_type = arf[0]
        return "arf", arf[1]
    dsn = parse_dsn(msg)
    if dsn is not None:
        # A status part decides alone, even with no failure in it ("Action: delivered").
        return "dsn", dsn
    ses = amazon_ses(msg)
    if ses is not None:
        name, failures, senders = ses
        if report.delivery_id is None and not report.forged_verp:
            _delivery_from(senders, settings, report)
        if name == "ses-complaint":
            report.feedback_type = next((f.diagnostic for f in failures), "abuse")
        return name, failures
    found = read_text_formats(msg)
    if found is not None:
        return found
    if is_auto_reply(msg):
        report.auto_reply = True
        return "auto-reply", []
    failures = _flufl(msg)
    if failures:
        return "flufl", failures
    if is_automatic(msg):
        report.auto_reply = True
        return "auto-reply", []
    return None, []


def parse_report(raw: bytes, settings: Settings) -> BounceReport:
    """Everything a bounce or complaint message tells: who failed, how, for which delivery."""
    msg = message_from_bytes(raw, policy=policy.compat32)
    report = BounceReport()
    report.unsubscribe_request = _unsubscribe_request(msg, settings)
    if report.unsubscribe_request is not None:
        # RFC 2369's mailto: whatever the mail says, being sent there is the request.
        report.source = "unsubscribe"
        return report
    _find_delivery_id(msg, settings, report)
    original = enclosed_original(msg)
    if original is not None:
        report.subscriber_id = _unsubscribe_subscriber_id(original, settings)
        if report.delivery_id is None and not report.forged_verp and settings.bounce_domain:
            # ARF reports carry the original message; its Return-Path is our VERP address.
            _find_delivery_id(original, settings, report)
    report.source, report.failures = _read(msg, report, settings)
    return report
