"""What a header value may hold: one line, no control character, valid Unicode.

Apart from mime.py so that checking a subject (campaigns/build.py, on `bulletin send`'s way
to its first batch) does not import MIME building, DKIM and `cryptography` with it.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A lone surrogate (JSON's "\ud800") has no UTF-8 form: refused like a control, not a crash.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class HeaderInjectionError(ValueError):
    """A header value held a line break, a control character or a raw encoded-word."""


def check_header_value(value: str) -> str:
    if CONTROL.search(value):
        raise HeaderInjectionError("header value contains a control character or line break")
    if _SURROGATE.search(value):
        raise HeaderInjectionError("header value contains a lone surrogate (not valid Unicode)")
    return value
