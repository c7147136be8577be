"""MIME building: exact, all-ASCII headers and a multipart/alternative body.

Headers are written by hand rather than by `EmailMessage(policy=SMTP)`: on Python
3.11.7 its folder dropped a space in a Vietnamese subject, and a subject must
round-trip exactly. The stdlib parser stays the oracle in the tests.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Sequence
from email.utils import formatdate

MAX_ENCODED_WORD = 75  # RFC 2047 section 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bqBQ]\?")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")


class HeaderInjectionError(ValueError):
    """A header value held a line break, a control character or a raw encoded-word."""


def check_header_value(value: str) -> str:
    if _CONTROL.search(value):
        raise HeaderInjectionError("header value contains a control character or line break")
    return value


def encode_header_words(value: str, *, prefix_length: int = 0) -> str:
    """`value` as RFC 2047 encoded-words (UTF-8, base64), folded, or as-is when plain ASCII.

    Spaces are kept inside the encoded-words: whitespace between two encoded-words is
    dropped by decoders, so a space there would be lost.
    """
    check_header_value(value)
    plain = (
        value.isascii()
        and value == value.strip()
        and "  " not in value
        and not _ENCODED_WORD.search(value)
        and len(value) + prefix_length < 78
    )
    if plain:
        return value
    words: list[str] = []
    chunk = b""
    overhead = len("=?utf-8?b??=")
    for char in value:
        encoded = char.encode("utf-8")
        if overhead + _b64_len(len(chunk) + len(encoded)) > MAX_ENCODED_WORD:
            words.append(_encoded_word(chunk))
            chunk = b""
        chunk += encoded
    if chunk or not words:
        words.append(_encoded_word(chunk))
    return "\r\n ".join(words)


def _b64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _encoded_word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def format_address(address: str, display_name: str = "") -> str:
    """`Name <addr>` with the name encoded; the address must already be ASCII (A-labels)."""
    check_header_value(address)
    if not address.isascii() or any(c in address for c in "<>, \"'"):
        raise HeaderInjectionError(f"address {address!r} is not a plain ASCII mailbox")
    if not display_name:
        return address
    return f"{encode_header_words(display_name, prefix_length=6)} <{address}>"


def make_message_id(domain: str) -> str:
    return f"<{time.time_ns():x}.{secrets.token_hex(8)}@{domain}>"


def _body_part(content_type: str, text: str) -> bytes:
    encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        f"Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + encoded


def build_message(
    *,
    from_header: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str,
    date: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """One message as CRLF bytes: text/plain, then text/html when given.

    `from_header` comes from `format_address`; `to` is a bare ASCII address (never a
    subscriber-supplied name). Extra `headers` must be ASCII and single-line.
    """
    lines = [
        ("From", from_header),
        ("To", format_address(to)),
        ("Subject", encode_header_words(subject, prefix_length=9)),
        ("Date", date or formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message_id),
        *headers,
        ("MIME-Version", "1.0"),
    ]
    head = []
    for name, value in lines:
        if not _HEADER_NAME.match(name):
            raise HeaderInjectionError(f"invalid header name {name!r}")
        check_header_value(value.replace("\r\n ", " "))
        if not value.isascii():
            raise HeaderInjectionError(f"header {name} is not ASCII; encode it first")
        head.append(f"{name}: {value}\r\n")
    if html is None:
        return "".join(head).encode("ascii") + _body_part("text/plain", text)
    boundary = "=_bt_" + secrets.token_hex(12)
    parts = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii"),
        f"--{boundary}\r\n".encode("ascii"),
        _body_part("text/plain", text),
        f"\r\n--{boundary}\r\n".encode("ascii"),
        _body_part("text/html", html),
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    return "".join(head).encode("ascii") + b"".join(parts)
