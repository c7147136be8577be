"""E-mail addresses as residents type them: validated, normalized, safe to store and mail.

The key of a subscriber is email-validator's `.normalized` form with the local part
lower-cased too (`email_key`): `An@x.vn` and `an@x.vn` are one mailbox at every provider
a city's residents use, and must not become two subscribers mailed twice (RFC 5321 lets
a server tell them apart; none of theirs does). Local parts must be ASCII (no SMTPUTF8
needed); internationalized domains are accepted and mailed to their A-label form, which
every relay understands.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import dns.resolver
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

log = logging.getLogger(__name__)

# The deliverability check must never make a resident wait long: a slow resolver means
# "unknown", and unknown never blocks a signup.
MX_TIMEOUT_SECONDS = 2.0

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An RFC 2047 encoded-word, or anything that looks like its start: refused everywhere so
# that no text a resident typed can turn into a header once decoded by a mail client.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)


class InputError(ValueError):
    """Resident input was refused; `message` is Vietnamese and says what to change."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Address:
    normalized: str  # the key stored in subscribers.email
    ascii: str  # the form for SMTP envelopes and headers (A-label domain)


def check_text(value: str, *, field: str, label: str) -> str:
    """`value` unchanged, or InputError when it holds control characters or `=?...?=`."""
    if _CONTROL.search(value):
        raise InputError(
            f"Trường «{label}» chứa ký tự điều khiển (như xuống dòng). "
            "Vui lòng nhập lại trên một dòng.",
            field=field,
        )
    if _ENCODED_WORD.search(value):
        raise InputError(
            f"Trường «{label}» chứa chuỗi dạng =?...?= không được phép. "
            "Vui lòng xóa chuỗi đó và gửi lại.",
            field=field,
        )
    return value


def parse_address(
    raw: str,
    *,
    development: bool = False,
    check_mx: bool = False,
    resolver: Any = None,
) -> Address:
    """Validate what a resident typed; InputError (Vietnamese) when it cannot be used.

    Special-use and reserved domains (`.local`, `.invalid`, `.test`...) are refused
    unless `development`, where `.test` and dot-less hosts are allowed for trials.
    With `check_mx`, a domain that provably takes no mail is refused; a DNS failure or
    timeout lets the address through.
    """
    raw = check_text(raw.strip(), field="email", label="E-mail")
    if not raw:
        raise InputError("Vui lòng nhập địa chỉ e-mail.", field="email")
    try:
        result = validate_email(
            raw,
            allow_smtputf8=False,
            check_deliverability=False,
            test_environment=development,
            globally_deliverable=not development,
        )
    except EmailNotValidError as exc:
        log.info("address refused: %s", exc)
        raise InputError(
            "Địa chỉ e-mail không hợp lệ. Vui lòng kiểm tra lại (ví dụ: ten@example.vn).",
            field="email",
        ) from exc
    if check_mx and not development:
        _check_deliverable(result.ascii_domain, resolver=resolver)
    key = email_key(result.normalized)
    return Address(normalized=key, ascii=email_key(result.ascii_email or result.normalized))


def email_key(normalized: str) -> str:
    """`normalized` with its local part lower-cased (the domain already is)."""
    local, at, domain = normalized.rpartition("@")
    return f"{local.lower()}{at}{domain}" if at else normalized.lower()


def _check_deliverable(ascii_domain: str, *, resolver: Any) -> None:
    # Imported here: the function is internal to email-validator's package layout but
    # public in its documentation ("validate_email_deliverability").
    from email_validator.deliverability import validate_email_deliverability

    if resolver is None:
        resolver = dns.resolver.Resolver()
        resolver.lifetime = MX_TIMEOUT_SECONDS
    try:
        info = validate_email_deliverability(ascii_domain, ascii_domain, dns_resolver=resolver)
    except EmailUndeliverableError as exc:
        if "error while checking" in str(exc):
            # Any other resolver failure: we could not find out, so we let it through.
            log.warning("deliverability unknown for %s: %s", ascii_domain, exc)
            return
        raise InputError(
            "Tên miền của địa chỉ e-mail này không nhận thư. Vui lòng kiểm tra lại địa chỉ.",
            field="email",
        ) from exc
    if "unknown-deliverability" in info:
        log.info("deliverability unknown for %s: %s", ascii_domain, info)


def normalize_lenient(email: str) -> str:
    """The normalized key of `email`, or `email` stripped when it does not validate.

    Used for look-ups (suppression, erase), where an address already stored must be
    found again whatever policy was in force when it was stored.
    """
    try:
        result = validate_email(
            email.strip(),
            allow_smtputf8=True,
            check_deliverability=False,
            test_environment=True,
            globally_deliverable=False,
        )
    except EmailNotValidError:
        return email.strip()
    return email_key(result.normalized)


def mailbox_key(text: str) -> str | None:
    """The normalized key of `text` if it is one whole Internet mailbox, else None.

    For addresses read from machines (bounce reports) rather than typed by residents:
    any syntactically valid mailbox with a dotted domain passes, reserved domains too,
    and no error message is needed; fragments, paths and X.400 strings do not.
    """
    candidate = text.strip().strip("<>").strip()
    if not candidate or any(c.isspace() for c in candidate):
        return None
    try:
        result = validate_email(
            candidate,
            allow_smtputf8=True,
            check_deliverability=False,
            test_environment=True,
            globally_deliverable=False,
        )
    except EmailNotValidError:
        return None
    if "." not in result.domain:
        return None
    return email_key(result.normalized)


def suppression_text(email: str) -> str:
    """What a suppression hash is taken of: the normalized address, lower-cased.

    Lowercased as a whole (local parts are case-sensitive in theory, never in practice)
    so that a bounce report spelling the address differently still finds it; the A-label
    and Unicode spellings of a domain hash alike. Of a key `parse_address` or
    `normalize_lenient` already made, `key.lower()` is the same text (a test checks),
    and skips validating the address a second time (a tenth of a millisecond).
    """
    return normalize_lenient(email).lower()


# An address whose normalized, lower-cased form is itself: a dot-atom of lower-case
# ASCII at a lower-case ASCII domain that is no A-label. Most stored keys are one.
_PLAIN_KEY = re.compile(r"[a-z0-9._+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")


def stored_suppression_text(email: str) -> str:
    """`suppression_text` of an address read from `subscribers`, at a regex's cost for the
    usual plain key instead of a validation's (~40 µs; the claim of a batch of 500 runs
    it per row). Anything else (quotes, upper case, IDN) is normalized in full."""
    if _PLAIN_KEY.fullmatch(email) and "xn--" not in email:
        return email
    return suppression_text(email)


def legacy_hash(text: str) -> str:
    """Unkeyed SHA-256 of a `suppression_text`: how suppressions were written before
    they were keyed. Only read, to find rows not re-keyed yet (`suppression.py`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
