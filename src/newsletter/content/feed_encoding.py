"""Feed bytes to text: the encoding the publisher meant, not only the one it declared.

Order of evidence: a byte-order mark (or the UTF-16/32 shape of `<?xml`), then the
HTTP charset, then the XML declaration (RFC 7303: the transport's label wins), then
UTF-8. A declared encoding is taken only if the bytes decode under it *and* the text
is plausible: legacy Vietnamese sites label Windows-1258 bytes as ISO-8859-1 or
Windows-1252, which decode without error into mojibake, and many label UTF-8 bytes
the same way. Undeclared bytes that are not UTF-8 go to a statistical detector
(charset-normalizer) unless they read as Vietnamese in Windows-1258, so a Korean,
Chinese or Russian feed never comes out as Vietnamese-looking mojibake.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

import charset_normalizer

from newsletter.content.fetch import FeedError

_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)

VIETNAMESE_LEGACY = "cp1258"
# Labels whose bytes 0x80-0xFF all decode, so "decodes" proves nothing: these must also
# look right. Windows-1258 bytes and UTF-8 bytes are what publishers mislabel this way.
_PERMISSIVE = frozenset({"iso8859-1", "cp1252", "iso8859-15", "cp1258"})
# Labels that name a subset of what publishers actually send under them.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "euc_kr": "cp949", "ascii": "cp1252"}

# Every letter of the Vietnamese alphabet with each tone, precomposed (NFC), both cases.
_TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
VIETNAMESE_LETTERS = frozenset(
    unicodedata.normalize("NFC", base + tone)
    for vowel in "aăâeêioôơuưy"
    for base in (vowel, vowel.upper())
    for tone in _TONES
) | frozenset("đĐ")
# Letters only Vietnamese uses: one of them shows the text is Vietnamese, not Latin-1.
_DISTINCTIVE = frozenset(
    ch for ch in VIETNAMESE_LETTERS if unicodedata.normalize("NFD", ch)[1:2] in ("\u0309", "\u0323")
) | frozenset("ăĂơƠưƯđĐ")


# Labels Python does not know, as feedparser and browsers read them.
_ALIASES = {
    "ucs-4": "utf-32", "csucs4": "utf-32", "iso-10646-ucs-4": "utf-32",
    "ucs-2": "utf-16", "csunicode": "utf-16", "iso-10646-ucs-2": "utf-16",
}  # fmt: skip


def _codec(name: str) -> str | None:
    try:
        codec = codecs.lookup(_ALIASES.get(name.lower(), name)).name
    except LookupError:
        return None
    return _SUPERSETS.get(codec, codec)


def looks_vietnamese(text: str) -> bool:
    """True when nearly every accented letter (98 %) is Vietnamese and some are Vietnamese only.

    Decoding Windows-1258 gives base letters followed by combining tone marks; in real
    Vietnamese each mark composes with its vowel, while bytes of another encoding leave
    marks stranded or compose letters Vietnamese does not have.
    """
    composed = unicodedata.normalize("NFC", text)
    accented = [ch for ch in composed if ord(ch) > 127 and (ch.isalpha() or _is_mark(ch))]
    if not accented:
        return False
    foreign = sum(1 for ch in accented if ch not in VIETNAMESE_LETTERS)
    distinctive = sum(1 for ch in accented if ch in _DISTINCTIVE)
    return distinctive > 0 and foreign <= len(accented) // 50


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _is_utf8_text(body: bytes) -> bool:
    """Valid UTF-8 with at least one multi-byte character: no accident in a legacy code page."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not body.isascii()


def _unicode_by_shape(body: bytes) -> str | None:
    """UTF-32/UTF-16 from a byte-order mark or from how `<` is laid out (XML 1.0 appendix F)."""
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    shapes = {
        b"<\x00\x00\x00": "utf-32-le",
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00?\x00": "utf-16-le",
        b"\x00<\x00?": "utf-16-be",
    }
    return shapes.get(body[:4])


def _plausible(body: bytes, codec: str, text: str) -> str | None:
    """None if `text` (`body` decoded as `codec`) is believable, else the codec to use instead."""
    if codec not in _PERMISSIVE or body.isascii():
        return None
    if _is_utf8_text(body):
        return "utf-8"
    if codec != VIETNAMESE_LEGACY and not looks_vietnamese(text) and _reads_as_legacy(body):
        return VIETNAMESE_LEGACY
    return None


def _reads_as_legacy(body: bytes) -> bool:
    """Windows-1258 with tone marks, all composing into Vietnamese letters.

    Requiring combining marks keeps Portuguese "São" (Windows-1258 "Săo") in Latin-1.
    """
    legacy = _try(body, VIETNAMESE_LEGACY)
    return legacy is not None and any(map(_is_mark, legacy)) and looks_vietnamese(legacy)


def _try(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        return None


def _detected(body: bytes) -> str | None:
    """For bytes no label explains: Windows-1258 if it reads as Vietnamese, else a detector."""
    if _reads_as_legacy(body):
        return VIETNAMESE_LEGACY
    best = charset_normalizer.from_bytes(body).best()
    return _codec(best.encoding) if best is not None else None


def declared_encodings(body: bytes, content_type: str | None) -> list[str]:
    """The encodings the bytes' shape, the HTTP header and the XML declaration name, in order."""
    names: list[str] = []
    shape = _unicode_by_shape(body)
    if shape:
        names.append(shape)
    charset = _CHARSET.search(content_type or "")
    if charset:
        names.append(charset.group(1))
    declared = _DECLARATION.match(body)
    if declared:
        names.append(declared.group(1).decode("ascii"))
    names.append("utf-8")
    return names


def decode_feed(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, codec name) of `body`: the first believable declared encoding, else detected."""
    tried: list[str] = []
    for name in declared_encodings(body, content_type):
        codec = _codec(name)
        if codec is None or codec in tried:
            continue
        tried.append(codec)
        text = _try(body, codec)
        if text is None:
            continue
        better = _plausible(body, codec, text)
        if better is None:
            return text, codec
        return body.decode(better), better
    detected = _detected(body)
    if detected is not None:
        text = _try(body, detected)
        if text is not None:
            return text, detected
    raise FeedError(
        f"cannot decode the feed as any of {', '.join(tried)}, nor detect its encoding; "
        "the publisher must declare its real encoding"
    )
