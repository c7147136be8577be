"""Out-of-office and vacation replies: they reach the bounce mailbox (a resident answers a
digest, or replies to its Reply-To) and must change nothing.

Asked only after every bounce and complaint reader has declined the message: bounces
carry `Auto-Submitted: auto-replied` too (Postfix adds it), so the header alone says
"automatic", not "not a bounce".
"""

from __future__ import annotations

import re
import unicodedata
from email.header import decode_header, make_header
from email.message import Message

_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|auto:|autoreply|out of (?:the )?office"
    r"|vacation|away from (?:the )?office|abwesenheit|r[ée]ponse automatique"
    r"|respuesta autom[áa]tica|risposta automatica"
    r"|trả lời tự động|thư trả lời tự động|phản hồi tự động|vắng mặt|nghỉ phép"
    r"|自动回复|自動回覆|自動返信)",
    re.IGNORECASE,
)
_SUBJECT_ANYWHERE = re.compile(
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?reply|trả lời tự động"
    r"|vắng mặt|自动回复",
    re.IGNORECASE,
)


def _subject(msg: Message) -> str:
    raw = str(msg.get("Subject", ""))
    try:
        text = str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError):
        text = raw
    return unicodedata.normalize("NFC", text)


def is_auto_reply(msg: Message) -> bool:
    """Whether `msg` says plainly that it is an automatic reply to a person's mail."""
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Auto-Reply"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    subject = _subject(msg)
    if _SUBJECT.search(subject):
        return True
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    return submitted.startswith("auto-generated") and bool(_SUBJECT_ANYWHERE.search(subject))


def is_automatic(msg: Message) -> bool:
    """`Auto-Submitted: auto-replied`: an auto-reply once no bounce reader found a failure."""
    return str(msg.get("Auto-Submitted", "")).strip().lower().startswith("auto-replied")
