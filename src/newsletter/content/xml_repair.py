"""Character-level repairs that make a real CMS's feed well-formed XML again.

Feeds are written by string concatenation more often than by an XML library: a bare
`&` in a query string, a `\\x0b` pasted from a word processor, `&nbsp;` with no DTD to
define it, an RSS 0.91 DOCTYPE naming Netscape's long-gone DTD. One such character
would make the whole document "not well-formed"; each repair here changes only that
character, so the items around it survive. None of them adds an entity declaration or
lets a DTD be fetched: those are refused later, whatever the repairs did.
"""

from __future__ import annotations

import re
from html.entities import name2codepoint

_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
# A reference XML can resolve without a DTD, or an HTML name we can translate; anything
# else after `&` is text that forgot to escape its ampersand.
_AMPERSAND = re.compile(
    r"&(?:(#[0-9]{1,7};)|(#[xX][0-9a-fA-F]{1,6};)|([A-Za-z][A-Za-z0-9]{0,31});)?"
)
# Characters XML 1.0 forbids even as references (C0 controls but tab/CR/LF, and the
# non-characters U+FFFE/U+FFFF); `\ud800-\udfff` are lone surrogates from a bad decode.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# A DOCTYPE without an internal subset only names an external DTD (RSS 0.91's Netscape
# one, XHTML's): nothing of it is ever fetched, so it goes. One with `[...]` stays, for
# the hostile-XML check to judge its declarations.
_EXTERNAL_DOCTYPE = re.compile(r"<!DOCTYPE\s[^\[>]*>", re.IGNORECASE)
_ANY_DOCTYPE = re.compile(r"<!DOCTYPE\s[^\[>]*(?:\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)
_ROOT_NAME = re.compile(r"<([A-Za-z_][\w.:-]*)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _allowed(codepoint: int) -> bool:
    return (
        codepoint in (0x9, 0xA, 0xD)
        or 0x20 <= codepoint <= 0xD7FF
        or (0xE000 <= codepoint <= 0x10FFFF and codepoint not in (0xFFFE, 0xFFFF))
    )


def _reference(match: re.Match[str]) -> str:
    decimal, hexadecimal, name = match.groups()
    if decimal or hexadecimal:
        number = int(decimal[1:-1]) if decimal else int(hexadecimal[2:-1], 16)
        return match.group(0) if _allowed(number) else " "
    if name is None:
        return "&amp;"
    if name in _XML_ENTITIES:
        return match.group(0)
    codepoint = name2codepoint.get(name)
    # An HTML name as the character reference XML knows without a DTD; an unknown name
    # stays visible as the text it was.
    return f"&#{codepoint};" if codepoint is not None else f"&amp;{name};"


def repair_characters(text: str) -> str:
    """`text` with forbidden characters as spaces and every `&` a reference XML can resolve."""
    return _AMPERSAND.sub(_reference, _FORBIDDEN.sub(" ", text))


def drop_external_doctype(text: str) -> str:
    """`text` without a DOCTYPE that only points at an external DTD."""
    return _EXTERNAL_DOCTYPE.sub("", text, count=1)


def drop_any_doctype(text: str) -> str:
    """`text` without its DOCTYPE, internal subset included (for the lenient reading)."""
    return _ANY_DOCTYPE.sub("", text, count=1)


def is_cut_off(text: str) -> bool:
    """True when the root element's end tag never comes: the download was cut short.

    Such a document is refused rather than read leniently: its last item is half there,
    and the next poll gets the whole document.
    """
    body = _COMMENT.sub("", text)
    root = _ROOT_NAME.search(body)
    if root is None:
        return True
    # "</rss" without its ">" is a typo, not a cut: that end tag still counts.
    end_tag = re.compile(rf"</\s*{re.escape(root.group(1))}\b")
    return end_tag.search(body, root.end()) is None and not body.rstrip().endswith("/>")
