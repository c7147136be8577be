"""The pre-encoded fast path gives the bytes of the simple path; the stdlib parser agrees."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.mail.mime import (
    HeaderInjectionError,
    MessageTemplate,
    build_message,
    format_address,
)

SLOTS = {"to": "slotxto", "url": "slotxurl", "mid": "slotxmid"}
BODY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=400
)
SLOT_VALUE = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./:=?&", min_size=1, max_size=160
)


def common(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "from_header": format_address("bantin@example.gov.vn", "Bản tin Thành phố Hoa Sen"),
        "subject": "Bản tin tuần: bão số 9",
        "date": "Sat, 28 Nov 2026 07:00:00 +0000",
        "boundary": "=_bt_fixed",
    }
    values.update(overrides)
    return values


def unix(text: str) -> str:
    """Line ends as LF: QP bodies travel with CRLF, which the parser hands back as-is."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def fill_text(text: str, value: str) -> str:
    return text.replace(SLOTS["url"], value)


@settings(max_examples=150, deadline=None)
@given(before=BODY_TEXT, after=BODY_TEXT, value=SLOT_VALUE, html_before=BODY_TEXT)
def test_template_bytes_equal_build_message(
    before: str, after: str, value: str, html_before: str
) -> None:
    """For any body text around a slot and any slot value, fill() equals build_message()."""
    text = before + SLOTS["url"] + after
    html = html_before + '<a href="' + SLOTS["url"] + '">x</a>' + after
    headers = [("List-Unsubscribe", f"<{SLOTS['url']}>")]
    template = MessageTemplate(
        slots=SLOTS,
        **common(to=SLOTS["to"], message_id=SLOTS["mid"], text=text, html=html, headers=headers),
    )
    values = {"to": "an@example.vn", "url": value, "mid": "<1.a@example.gov.vn>"}
    expected = build_message(
        **common(
            to="an@example.vn",
            message_id="<1.a@example.gov.vn>",
            text=fill_text(text, value),
            html=fill_text(html, value),
            headers=[("List-Unsubscribe", f"<{value}>")],
            body_encoding="quoted-printable",
        )
    )
    filled = template.fill(values)
    assert filled == expected
    head, _, body = filled.partition(b"\r\n\r\n")
    assert head.isascii()
    assert body.isascii()
    assert all(len(line) <= 76 for line in body.split(b"\r\n")), "QP lines stay <= 76"
    parsed = message_from_bytes(filled, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    plain, rich = parsed.iter_parts()
    assert unix(plain.get_content()) == unix(fill_text(text, value))  # type: ignore[attr-defined]
    assert unix(rich.get_content()) == unix(fill_text(html, value))  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["a@b.vn\r\nBcc: x@y.vn", "a@b.vn\n", "ví@dụ.vn", "a\x00"])
def test_slot_values_cannot_add_lines_or_non_ascii(bad: str) -> None:
    """A per-recipient value with a line break, a control byte or non-ASCII is refused."""
    template = MessageTemplate(
        slots=SLOTS,
        **common(to=SLOTS["to"], message_id=SLOTS["mid"], text=SLOTS["url"], html=None),
    )
    with pytest.raises(HeaderInjectionError):
        template.fill({"to": bad, "url": "u", "mid": "<m@x>"})


def test_slot_markers_must_be_plain() -> None:
    """Markers are letters and digits only, so escaping and CSS inlining leave them intact."""
    with pytest.raises(ValueError, match="slot marker"):
        MessageTemplate(slots={"to": "slot-to"}, **common(to="a@b.vn", message_id="<m@x>", text=""))
