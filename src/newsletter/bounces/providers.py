"""Reports without a delivery-status part: each MTA's or provider's own wording.

Every reader here looks for its format's fixed sentences (taken from the MTA's source or
the provider's documented notices) and returns None when they are absent, so a message
is tried against each in turn. Addresses pass through `mailbox`; statuses come from the
report text before the quoted original begins.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from email.message import Message
from email.utils import getaddresses
from typing import Any

from newsletter.bounces.classify import BounceKind, classify
from newsletter.bounces.dsn import report_parts
from newsletter.bounces.report import RecipientFailure, mailbox

Found = tuple[str, list[RecipientFailure]]

# Where the quoted original starts in the text of the formats below.
_ORIGINAL_STARTS = re.compile(
    r"^\s*(?:Original message follows\.|Message headers follow|Below is a copy of the original"
    r"|--- Below this line is a copy of the message|-+ ?(?:Unsent|Original) message follows"
    r"|Original message headers:|-+ ?Original message ?-+|--- Original message follows)",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS = r"[^\s<>()\[\]\"',;:]+@[A-Za-z0-9.\-]+\.[A-Za-z0-9\-]+"
# A report's own text is a few kilobytes; past this it is someone's message, not a report,
# and the readers' expressions need not scan it.
MAX_REPORT_TEXT = 64 * 1024


def report_text(msg: Message) -> str:
    """The human-readable text of the report, up to where the quoted original begins."""
    chunks = []
    for part in report_parts(msg):
        if (
            part.get_content_maintype() != "text"
            or part.get_content_type() == "text/rfc822-headers"
        ):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        text = _decode(raw, part.get_content_charset())
        if part.get_content_subtype() == "html":
            text = html.unescape(re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", text, flags=re.I))
            text = re.sub(r"<[^>]+>", "", text)
        chunks.append(text.replace("\r\n", "\n"))
    text = "\n".join(chunks)[:MAX_REPORT_TEXT]
    end = _ORIGINAL_STARTS.search(text)
    return text[: end.start()] if end else text


def _decode(raw: bytes, charset: str | None) -> str:
    try:
        return raw.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know: the ASCII parts still read
        return raw.decode("utf-8", "replace")


def _failure(address: str, diagnostic: str, *, soft: bool = False) -> RecipientFailure | None:
    found = mailbox(address)
    if found is None:
        return None
    diagnostic = " ".join(diagnostic.split())
    kind = BounceKind.SOFT if soft else classify(None, diagnostic)
    status = re.search(r"\b[245]\.\d{1,3}\.\d{1,3}\b", diagnostic)
    return RecipientFailure(found, kind, status.group(0) if status else None, diagnostic or None)


def _collect(pairs: list[tuple[str, str]], *, soft: bool = False) -> list[RecipientFailure]:
    failures = [_failure(a, d, soft=soft) for a, d in pairs]
    return [f for f in failures if f is not None]


def dragonfly(msg: Message, text: str) -> list[RecipientFailure] | None:
    """DragonFly Mail Agent (dma): "There was an error delivering your mail to <x>."."""
    if "This is the DragonFly Mail Agent" not in text:
        return None
    blocks = re.split(r"There was an error delivering your mail to <", text)[1:]
    pairs = []
    for block in blocks:
        address, _, rest = block.partition(">")
        pairs.append((address, rest.strip(" .\n")))
    return _collect(pairs)


def opensmtpd(msg: Message, text: str) -> list[RecipientFailure] | None:
    """OpenSMTPD: "This is the MAILER-DAEMON, please DO NOT REPLY", one "rcpt: reason" line each."""
    if "This is the MAILER-DAEMON, please DO NOT REPLY" not in text:
        return None
    delayed = "only a temporary failure report" in text or "A message is delayed" in text
    lines = re.findall(rf"^\s*({_ADDRESS}):?\s+(.+)$", text, re.MULTILINE)
    return _collect(lines, soft=delayed)


def qmail(msg: Message, text: str) -> list[RecipientFailure] | None:
    """qmail and Yahoo's "Failure Notice": "<x>:" then the remote host's words."""
    if not re.search(
        r"unable to deliver your message to the following address|"
        r"I'm afraid I wasn't able to deliver your message|This is the qmail-send program",
        text,
    ):
        return None
    pairs = []
    for paragraph in re.split(r"\n\s*\n", text):
        first, _, rest = paragraph.strip().partition("\n")
        named = re.fullmatch(rf"<({_ADDRESS})>:?\s*(.*)", first.strip())
        if named:
            pairs.append((named.group(1), f"{named.group(2)} {rest}"))
    return _collect(pairs)


def office365(msg: Message, text: str) -> list[RecipientFailure] | None:
    """Exchange Online / Office 365 NDR without a status part."""
    if not re.search(
        r"Delivery has failed to these recipients or groups|couldn't be delivered to|"
        r"Your message to .+ couldn't be delivered|Diagnostic information for administrators",
        text,
    ):
        return None
    remote = re.findall(
        rf"^\s*({_ADDRESS})\s*\n(?:.*\n){{0,3}}?\s*Remote Server returned '([^']+)'",
        text,
        re.MULTILINE | re.IGNORECASE,
    )
    if remote:
        return _collect(remote)
    named = re.findall(rf"^\s*({_ADDRESS})\s*(?:<mailto:[^>]+>|\({_ADDRESS}\))?\s*$", text, re.M)
    reason = re.search(r"(?:#|Remote Server returned ')?([45]\d\d[ -][45]\.\d+\.\d+[^\n']*)", text)
    return _collect([(a, reason.group(1) if reason else "") for a in dict.fromkeys(named)])


def old_sendmail(msg: Message, text: str) -> list[RecipientFailure] | None:
    """Sendmail's transcript: "----- Transcript of session follows -----", "550 <x>... why"."""
    if not re.search(r"-+ ?Transcript of session follows ?-+", text, re.IGNORECASE):
        return None
    soft = bool(re.search(r"Warning: (?:could not send|message still undelivered)", text))
    pairs = re.findall(rf"^\s*([45]\d\d[ -].*?<?({_ADDRESS})>?\.\.\. ?.*)$", text, re.MULTILINE)
    return _collect([(a, line) for line, a in pairs], soft=soft)


TEXT_READERS: list[tuple[str, Callable[[Message, str], list[RecipientFailure] | None]]] = [
    ("dragonfly", dragonfly),
    ("opensmtpd", opensmtpd),
    ("qmail", qmail),
    ("office365", office365),
    ("sendmail", old_sendmail),
]


def read_text_formats(msg: Message) -> Found | None:
    """The first text format that recognises `msg` and names at least one address."""
    text = report_text(msg)
    for name, reader in TEXT_READERS:
        failures = reader(msg, text)
        if failures:
            return name, failures
    return None


def _ses_document(msg: Message) -> dict[str, Any] | None:
    for part in report_parts(msg):
        if part.get_content_type() not in ("text/plain", "application/json"):
            continue
        raw = part.get_payload(decode=True)
        if not isinstance(raw, bytes):
            continue
        text = raw.decode("utf-8", "replace")
        start = text.find("{")
        if start < 0:
            continue
        try:
            doc, _end = json.JSONDecoder().raw_decode(text[start:])
        except (ValueError, RecursionError):  # not JSON, or nested past any real notification
            continue
        if isinstance(doc, dict) and isinstance(doc.get("Message"), str):
            try:  # an SNS envelope around the SES notification
                doc = json.loads(doc["Message"])
            except (ValueError, RecursionError):
                continue
        if isinstance(doc, dict) and ("notificationType" in doc or "eventType" in doc):
            return doc
    return None


def _ses_address(value: object) -> str | None:
    pairs = getaddresses([str(value or "")])
    return mailbox(pairs[0][1]) if pairs else None


def amazon_ses(msg: Message) -> tuple[str, list[RecipientFailure], list[str]] | None:
    """Amazon SES notifications delivered by SNS e-mail: Bounce, Complaint, Delivery.

    The third item is the original's envelope sender (`mail.source`, `mail.returnPath`):
    our VERP address, the only link from the notification to a delivery.
    """
    doc = _ses_document(msg)
    if doc is None:
        return None
    mail = doc.get("mail") or {}
    senders = [str(mail[k]) for k in ("returnPath", "source") if isinstance(mail.get(k), str)]
    kind = str(doc.get("notificationType") or doc.get("eventType") or "")
    failures: list[RecipientFailure] = []
    if kind == "Bounce":
        bounce = doc.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        subtype = str(bounce.get("bounceSubType", ""))
        for rcpt in bounce.get("bouncedRecipients") or []:
            address = _ses_address(rcpt.get("emailAddress"))
            if address is None:
                continue
            status, diagnostic = rcpt.get("status"), rcpt.get("diagnosticCode")
            found = classify(status, diagnostic) if status or diagnostic else BounceKind.HARD
            if subtype in ("ContentRejected", "AttachmentRejected"):
                found = BounceKind.POLICY
            elif not permanent and found is BounceKind.HARD:
                found = BounceKind.SOFT  # SES itself says it may go through later
            failures.append(RecipientFailure(address, found, status, diagnostic or subtype))
    elif kind == "Complaint":
        complaint = doc.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType") or "abuse")
        for rcpt in complaint.get("complainedRecipients") or []:
            address = _ses_address(rcpt.get("emailAddress"))
            if address:
                failures.append(RecipientFailure(address, BounceKind.COMPLAINT, None, feedback))
    # A Delivery (or any other) notification is news of success: nobody failed.
    return f"ses-{kind.lower() or 'unknown'}", failures, senders
