"""What kind of failure a status code and its text describe, as the large providers decide.

Hard means the mailbox or its domain does not exist or is disabled: the only failures that
condemn an address at once. A full mailbox, a message too large, greylisting, rate limits,
expiry and every 4.x.x are soft: they pass, and only a run of them counts. Refusals aimed at
the sender — its IP, reputation, authentication, content, a relay that will not relay — are
policy: they say nothing about the resident and never touch them.

The text is read before the code because servers misuse codes: "552 5.2.2 mailbox full"
arrives as 5.x.x, "550 Ip frequency limited" and "5.7.1 IP address blacklisted" as 550.
"""

from __future__ import annotations

import re
from enum import StrEnum

STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# A reply code stands alone or before its enhanced code: "550 ", "550-5.1.1"; not a phone
# number ("480-624-2500"), a year or a time.
_REPLY_CODE = re.compile(r"(?<![\d.\-/:])([245])\d\d(?=\s|-[245]\.\d|$)")


class BounceKind(StrEnum):
    HARD = "hard"  # the mailbox or domain does not exist or is disabled: never mail it again
    SOFT = "soft"  # full, too large, greylisted, rate-limited, expired: try later, count it
    POLICY = "policy"  # refused for the sender's IP, reputation, content or policy
    COMPLAINT = "complaint"  # the resident marked a mail as spam


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


# Each list is what the providers' own replies say (Gmail, Outlook, Yahoo, Postfix, Exim,
# qmail, Exchange, QQ/163/Sina, Amazon SES); soft is tried first (a full
# mailbox is never condemned), then policy (a block names the sender), then hard.
_SOFT_TEXT = _words(
    r"mail ?(?:box|folder) (?:is |was )?full",
    r"\bis full\b",
    r"quota",
    r"over ?quota",
    r"storage (?:space|limit)",
    r"insufficient (?:system )?storage",
    r"exceed(?:s|ed)? (?:the )?(?:storage|mailbox)",
    r"mailbox size limit",
    r"disk (?:full|space)",
    r"out of (?:disk|storage)",
    r"message (?:is )?too (?:large|big)",
    r"message size",
    r"size limit",
    r"exceeds? (?:the )?(?:maximum )?(?:message )?size",
    r"too large",
    r"grey ?list",
    r"gray ?list",
    r"try (?:again )?later",
    r"temporar(?:y|ily)",
    r"rate ?limit",
    r"frequency limited",
    r"too many (?:messages|connections|recipients)",
    r"throttl",
    r"exceeded (?:the )?(?:sending|message|connection) (?:rate|limit)",
    r"retry timeout exceeded",
    r"delivery (?:time )?expired",
    r"message expired",
    r"envelope expired",
    r"maximum[- ]time[- ]expired",
    r"timed? ?out",
    r"could not be delivered (?:for|within|in) ",
    r"delivery (?:has been )?delayed",
    r"still trying",
    r"will (?:keep|continue) (?:trying|to try)",
    r"deferred",
    r"has been delayed",
    r"warning message only",
    r"not yet been delivered",
    r"will be retried",
    r"still being retried",
    r"resources temporarily",
    r"connection refused",
)
_POLICY_TEXT = _words(
    r"black ?list",
    r"block ?list",
    r"\bblocked\b",
    r"\blisted (?:at|on|in|by)\b",
    r"spamhaus",
    r"spamcop",
    r"barracuda",
    r"sorbs",
    r"\bRBL\b",
    r"\bDNSBL\b",
    r"reputation",
    r"\bspam\b",
    r"junk",
    r"virus",
    r"malware",
    r"phish",
    r"content (?:policy|filter|rejected)",
    r"rejected (?:due to|for|by) (?:content|policy)",
    r"\bpolicy\b",
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)",
    r"not (?:permitted|allowed|authori[sz]ed) to relay",
    r"unable to relay",
    r"relay not permitted",
    r"\bDMARC\b",
    r"\bSPF\b",
    r"\bDKIM\b",
    r"unauthenticated",
    r"authentication (?:required|failed)",
    r"sender (?:address )?(?:rejected|denied|blocked)",
    r"\bPTR\b",
    r"reverse (?:DNS|lookup)",
    r"\bIP\b.{0,40}\b(?:rejected|refused|denied)",
    r"access denied(?!\. ?AS\(201806281\))",
)
_HARD_TEXT = _words(
    r"user(?:name)? (?:is )?unknown",
    r"unknown (?:user|recipient|local[- ]part|address)",
    r"no such (?:user|mailbox|recipient|address|account|domain|person)",
    r"(?:user|mailbox|recipient|address|account|domain) (?:does not|doesn't|did not) exist",
    r"(?:does not|doesn't) have an? .{0,40}account",
    r"account (?:has been |is )?(?:disabled|"
    r"deactivated|suspended|closed|terminated|deleted|inactive|expired)",
    r"mailbox (?:is )?(?:disabled|unavailable|inactive|not found|deactivated)",
    r"(?:recipient|address|user) not found",
    r"recipientnotfound",
    r"invalid (?:recipient|"
    r"mailbox|address|user)",
    r"(?:recipient|address) (?:rejected|refused): (?:user|access)",
    r"not a valid (?:mailbox|recipient|user)",
    r"no mailbox",
    r"unrouteable",
    r"host or domain name not found",
    r"(?:domain|host) not found",
    r"name service error",
    r"nxdomain",
    r"no (?:mx|mail exchanger) (?:record )?(?:found )?for",
    r"not our customer",
    r"no longer (?:available|in use|valid|active)",
    r"unknown account",
    r"addressee unknown",
    r"bad destination mailbox",
    r"mailbox name not allowed",
    r"no mailbox here by that name",
    r"user (?:is )?(?:disabled|inactive)",
    r"disabled (?:account|mailbox|user)",
    r"(?:recipient|name|address) is not recogni[sz]ed",
    r"access denied\. ?as\(201806281\)",
)


def _by_code(klass: str, subject: str, detail: str) -> BounceKind:
    """RFC 3463's enhanced status code, where the text decided nothing."""
    if klass in ("2", "4"):
        return BounceKind.SOFT
    code = f"{subject}.{detail}"
    if subject == "1":
        # 5.1.7/5.1.8 are the sender's address: not the resident's fault.
        return BounceKind.POLICY if detail in ("7", "8") else BounceKind.HARD
    if subject == "2":
        # 5.2.1 disabled mailbox; 5.2.2 full, 5.2.3 too large, 5.2.0 unspecified.
        return BounceKind.HARD if detail == "1" else BounceKind.SOFT
    if subject == "4":
        # 5.4.4 unroutable (no such domain); Office 365's 5.4.1 is "recipient not found".
        return BounceKind.HARD if code in ("4.4", "4.1") else BounceKind.SOFT
    if subject in ("6", "7"):
        return BounceKind.POLICY
    if subject == "0":
        return BounceKind.HARD
    return BounceKind.SOFT  # 5.3.x mail system, 5.5.x protocol: nothing about the mailbox


def classify(
    status: str | None, diagnostic: str | None = None, *, default: BounceKind = BounceKind.SOFT
) -> BounceKind:
    """The kind of one recipient's failure from its status and the server's text;
    `default` when neither says anything (a reader that knows the failure is permanent)."""
    text = " ".join(filter(None, (status, diagnostic)))
    # 2.x.x is success: in a failure it is a version number read by mistake ("Mailman 2.0.12").
    statuses = [s for s in STATUS.findall(text) if s[0] != "2"]
    # The most specific code: "Status: 5.0.0" with "550 5.1.1 ..." in the diagnostic.
    specific = [s for s in statuses if (s[1], s[2]) != ("0", "0")] or statuses
    klass = specific[0][0] if specific else None
    if klass is None:
        reply = _REPLY_CODE.search(diagnostic or "")
        klass = reply.group(1) if reply else None
    if klass in ("2", "4") or _SOFT_TEXT.search(text):
        return BounceKind.SOFT
    if _POLICY_TEXT.search(text):
        return BounceKind.POLICY
    if _HARD_TEXT.search(text):
        return BounceKind.HARD
    if specific:
        return _by_code(*specific[0])
    if klass == "5":
        return _by_reply(diagnostic or "")
    return default


def _by_reply(diagnostic: str) -> BounceKind:
    """A bare SMTP reply: 550/551/553 name the mailbox, 552 its storage, 554 is anything."""
    reply = _REPLY_CODE.search(diagnostic)
    code = reply.group(0) if reply else ""
    if code in ("550", "551", "553"):
        return BounceKind.HARD
    return BounceKind.SOFT


def classify_smtp_rejection(code: int, reply: str) -> BounceKind:
    """A refusal of one recipient at RCPT time, by the same rules as a bounce message.

    `reply` is the server's text, with or without the code in front.
    """
    if 400 <= code < 500:
        return BounceKind.SOFT
    text = reply if reply.lstrip().startswith(str(code)) else f"{code} {reply}"
    return classify(None, text)
