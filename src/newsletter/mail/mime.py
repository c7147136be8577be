"""MIME building: exact, all-ASCII headers and a multipart/alternative body.

Headers are written by hand rather than by `EmailMessage(policy=SMTP)`: on Python
3.11.7 its folder dropped a space in a Vietnamese subject, and a subject must
round-trip exactly. The stdlib parser stays the oracle in the tests.

Two paths build the same bytes. `build_message` is the simple one: every value known,
bodies encoded whole. `MessageTemplate` is the fast one for bulk mail: built once per
segment with slot markers in place of the per-recipient values, it keeps the message as
pre-encoded chunks and only re-encodes the few lines that hold a slot. Bodies are
quoted-printable, whose encoding is line-local (soft breaks restart at each hard line
break), so encoding line by line gives exactly the bytes of encoding the whole body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from email.utils import formatdate
from typing import Literal

from newsletter.mail.dkim import (
    DkimSigner,
    parse_header_fields,
    relaxed_body,
    relaxed_header,
    relaxed_lines,
)

# Defined in headers.py (light enough for the CLI); still importable from here.
from newsletter.mail.headers import CONTROL as _CONTROL
from newsletter.mail.headers import HeaderInjectionError as HeaderInjectionError
from newsletter.mail.headers import check_header_value as check_header_value

BodyEncoding = Literal["base64", "quoted-printable"]
MAX_ENCODED_WORD = 75  # RFC 2047 section 2
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bqBQ]\?")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# RFC 5322 specials: left bare in a display name, `a, b <x@y>` reads as two addresses,
# `<x@y>` as another mailbox and a lone "." as no phrase at all, so such a name is encoded.
_PHRASE_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def encode_header_words(value: str, *, prefix_length: int = 0, always: bool = False) -> str:
    """`value` as RFC 2047 encoded-words (UTF-8, base64), folded, or as-is when plain ASCII.

    Spaces are kept inside the encoded-words: whitespace between two encoded-words is
    dropped by decoders, so a space there would be lost. `always` encodes plain text too.
    """
    check_header_value(value)
    plain = (
        not always
        and value.isascii()
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
    name = encode_header_words(
        display_name, prefix_length=6, always=bool(_PHRASE_SPECIALS.search(display_name))
    )
    return f"{name} <{address}>"


def make_message_id(domain: str) -> str:
    return f"<{time.time_ns():x}.{secrets.token_hex(8)}@{domain}>"


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def encode_body(text: str, encoding: BodyEncoding = "quoted-printable") -> bytes:
    """`text` as UTF-8 in `encoding` with CRLF line ends (lines <= 76 characters)."""
    if encoding == "base64":
        # base64 keeps the text's own LF line ends inside the encoded bytes.
        return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    data = normalize_newlines(text).encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _part_head(content_type: str, encoding: BodyEncoding) -> bytes:
    return (
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode("ascii")


def message_skeleton(
    *,
    from_header: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: str,
    headers: Sequence[tuple[str, str]],
    boundary: str,
    body_encoding: BodyEncoding = "quoted-printable",
) -> list[bytes | str]:
    """The message as raw ASCII chunks (bytes) and bodies still to encode (str)."""
    lines = [
        ("From", from_header),
        ("To", format_address(to)),
        ("Subject", encode_header_words(subject, prefix_length=9)),
        ("Date", date),
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
        return ["".join(head).encode("ascii") + _part_head("text/plain", body_encoding), text]
    if not re.fullmatch(r"[0-9A-Za-z'()+_,./:=?-]{1,69}", boundary):
        raise ValueError(f"invalid MIME boundary {boundary!r}")
    return [
        "".join(head).encode("ascii")
        + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii")
        + f"--{boundary}\r\n".encode("ascii")
        + _part_head("text/plain", body_encoding),
        text,
        f"\r\n--{boundary}\r\n".encode("ascii") + _part_head("text/html", body_encoding),
        html,
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]


def new_boundary() -> str:
    return "=_bt_" + secrets.token_hex(12)


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
    boundary: str | None = None,
    body_encoding: BodyEncoding = "base64",
) -> bytes:
    """One message as CRLF bytes: text/plain, then text/html when given.

    `from_header` comes from `format_address`; `to` is a bare ASCII address (never a
    subscriber-supplied name). Extra `headers` must be ASCII and single-line (or folded
    with CRLF + space). Bulk mail uses quoted-printable (see MessageTemplate); base64
    stays the default of this simple path, whose callers read their text back with LF.
    """
    chunks = message_skeleton(
        from_header=from_header,
        to=to,
        subject=subject,
        text=text,
        html=html,
        message_id=message_id,
        date=date or formatdate(localtime=False, usegmt=True),
        headers=headers,
        boundary=boundary or new_boundary(),
        body_encoding=body_encoding,
    )
    return b"".join(c if isinstance(c, bytes) else encode_body(c, body_encoding) for c in chunks)


class _Slotted:
    """A chunk holding slot markers: filled per recipient, QP-encoded when a body line."""

    __slots__ = ("encode", "markers", "raw")

    def __init__(self, raw: bytes, markers: tuple[bytes, ...], *, encode: bool) -> None:
        self.raw = raw
        self.markers = markers
        self.encode = encode

    def fill(self, values: dict[bytes, bytes]) -> bytes:
        data = self.raw
        for marker in self.markers:
            data = data.replace(marker, values[marker])
        if self.encode:
            return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
        return data


Chunk = bytes | _Slotted


def _markers_in(data: bytes, markers: Sequence[bytes]) -> tuple[bytes, ...]:
    return tuple(m for m in markers if m in data)


def _chunk_raw(data: bytes, markers: Sequence[bytes]) -> list[Chunk]:
    if not _markers_in(data, markers):
        return [data]
    out: list[Chunk] = []
    for line in data.splitlines(keepends=True):
        found = _markers_in(line, markers)
        out.append(_Slotted(line, found, encode=False) if found else line)
    return out


def _chunk_text(text: str, markers: Sequence[bytes]) -> list[Chunk]:
    out: list[Chunk] = []
    static: list[bytes] = []
    for line in normalize_newlines(text).encode("utf-8").splitlines(keepends=True):
        found = _markers_in(line, markers)
        if not found:
            static.append(line)
            continue
        if static:
            out.append(binascii.b2a_qp(b"".join(static), istext=True).replace(b"\n", b"\r\n"))
            static = []
        out.append(_Slotted(line, found, encode=True))
    if static:
        out.append(binascii.b2a_qp(b"".join(static), istext=True).replace(b"\n", b"\r\n"))
    return out


def _merge(chunks: list[Chunk]) -> list[Chunk]:
    merged: list[Chunk] = []
    for chunk in chunks:
        if isinstance(chunk, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += chunk
        elif not (isinstance(chunk, bytes) and not chunk):
            merged.append(chunk)
    return merged


class MessageTemplate:
    """A message pre-encoded once, with slots filled per recipient (the fast path).

    Build it with the arguments of `build_message`, where `to`, `date`, `message_id`,
    header values and body lines may hold slot markers (strings from `slots`, plain
    ASCII letters and digits). `fill` then gives the bytes `build_message` would give for
    the same values. Every chunk boundary in the body is a line boundary, so DKIM's
    relaxed body form can be computed chunk by chunk too.
    """

    def __init__(
        self,
        *,
        slots: dict[str, str],
        signer: DkimSigner | None = None,
        from_header: str,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str,
        date: str,
        headers: Sequence[tuple[str, str]] = (),
        boundary: str | None = None,
    ) -> None:
        for marker in slots.values():
            if not marker.isalnum() or not marker.isascii():
                raise ValueError(f"slot marker {marker!r} must be ASCII letters and digits")
        self._markers = {name: marker.encode("ascii") for name, marker in slots.items()}
        markers = list(self._markers.values())
        skeleton = message_skeleton(
            from_header=from_header,
            to=to,
            subject=subject,
            text=text,
            html=html,
            message_id=message_id,
            date=date,
            headers=headers,
            boundary=boundary or new_boundary(),
        )
        first = skeleton[0]
        assert isinstance(first, bytes)
        head, _, body_start = first.partition(b"\r\n\r\n")
        # The header block ends with its blank line; the body is all that follows.
        self._head = _merge(_chunk_raw(head + b"\r\n\r\n", markers))
        body = _chunk_raw(body_start, markers)
        for piece in skeleton[1:]:
            body += (
                _chunk_raw(piece, markers)
                if isinstance(piece, bytes)
                else _chunk_text(piece, markers)
            )
        self._body = _merge(body)
        self._signer = signer
        if signer is not None:
            self._prepare_signing(signer, head)

    def _prepare_signing(self, signer: DkimSigner, head: bytes) -> None:
        fields = parse_header_fields(head)
        self._signed_names = signer.signed_names([n for n, _ in fields])
        by_name = {n.strip().lower(): v for n, v in fields}
        canonical = b"".join(
            relaxed_header(n.encode("ascii"), by_name[n.lower().encode("ascii")])
            for n in self._signed_names
        )
        markers = list(self._markers.values())
        self._canonical_head = _Slotted(canonical, _markers_in(canonical, markers), encode=False)
        # The body hash state after the leading static chunks; the rest is hashed per message.
        body = self._body
        self._body_prefix = hashlib.sha256()
        index = 0
        while index < len(body) and isinstance(body[index], bytes):
            self._body_prefix.update(relaxed_lines(body[index]))  # type: ignore[arg-type]
            index += 1
        rest: list[Chunk] = []
        for chunk in body[index:]:
            rest.append(relaxed_lines(chunk) if isinstance(chunk, bytes) else chunk)
        self._body_rest = rest
        last = body[-1] if body else b""
        # The end-of-body rule (drop trailing empty lines) is safe chunk-wise only when the
        # last chunk is fixed and not blank; otherwise canonicalise the whole body.
        self._chunkwise_body = isinstance(last, bytes) and relaxed_body(last) == relaxed_lines(last)

    def fill(self, values: dict[str, str], *, timestamp: int | None = None) -> bytes:
        """The message for one recipient; `values` gives every slot (ASCII, one line)."""
        filled: dict[bytes, bytes] = {}
        for name, marker in self._markers.items():
            value = values[name]
            if _CONTROL.search(value) or not value.isascii():
                raise HeaderInjectionError(f"slot {name} must be one line of ASCII")
            filled[marker] = value.encode("ascii")
        head = b"".join(c if isinstance(c, bytes) else c.fill(filled) for c in self._head)
        body_parts = [c if isinstance(c, bytes) else c.fill(filled) for c in self._body]
        if self._signer is None:
            return head + b"".join(body_parts)
        return self._signed(head, body_parts, filled, timestamp)

    def _signed(
        self,
        head: bytes,
        body_parts: list[bytes],
        filled: dict[bytes, bytes],
        timestamp: int | None,
    ) -> bytes:
        assert self._signer is not None
        if self._chunkwise_body:
            digest = self._body_prefix.copy()
            for chunk in self._body_rest:
                if isinstance(chunk, bytes):
                    digest.update(chunk)
                else:
                    digest.update(relaxed_lines(chunk.fill(filled)))
            body_hash = digest.digest()
        else:
            body_hash = hashlib.sha256(relaxed_body(b"".join(body_parts))).digest()
        signature = self._signer.signature_headers(
            self._canonical_head.fill(filled),
            body_hash,
            names=self._signed_names,
            timestamp=int(time.time()) if timestamp is None else timestamp,
        )
        return signature + head + b"".join(body_parts)
