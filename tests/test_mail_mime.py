"""MIME building, with the stdlib parser as the oracle: exact subjects, ASCII headers."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.mail.mime import (
    HeaderInjectionError,
    build_message,
    encode_header_words,
    format_address,
    make_message_id,
)

TONE_MARKS = (
    "Thông báo khẩn: Bão số 9 đổ bộ — cắt điện, ngừng cấp nước tạm thời ở Phường Hòa Bình "
    "àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ ùúủũụ ừứửữự ỳýỷỹỵ đĐ  hai  dấu cách"
)


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def build(subject: str = TONE_MARKS, **kw: object) -> bytes:
    args: dict[str, object] = {
        "from_header": format_address("bantin@example.gov.vn", "Bản tin Thành phố Hoa Sen"),
        "to": "an@example.vn",
        "subject": subject,
        "text": "Xin chào,\nđây là bản tin.",
        "html": "<p>Xin chào, đây là <b>bản tin</b>.</p>",
        "message_id": make_message_id("example.gov.vn"),
        "headers": [("List-Id", "<bantin.example.gov.vn>")],
    }
    args.update(kw)
    return build_message(**args)  # type: ignore[arg-type]


def test_vietnamese_subject_round_trips_with_ascii_headers() -> None:
    """Every tone mark and every space of a long subject survives; raw headers are ASCII."""
    raw = build()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    msg = parse(raw)
    assert msg["Subject"] == TONE_MARKS
    assert msg["From"].addresses[0].display_name == "Bản tin Thành phố Hoa Sen"
    assert msg["To"] == "an@example.vn"


def test_alternative_parts_text_first() -> None:
    """multipart/alternative carries text/plain before text/html, both UTF-8."""
    msg = parse(build())
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Xin chào,\nđây là bản tin."
    assert "<b>bản tin</b>" in parts[1].get_content()


@pytest.mark.parametrize(
    "subject",
    ["a\r\nBcc: victim@example.com", "x\nX-Evil: 1", "tab\tis control", "nul\x00"],
)
def test_line_breaks_in_subject_are_refused(subject: str) -> None:
    """No input can add a header: a subject with a line break or control byte is refused."""
    with pytest.raises(HeaderInjectionError):
        build(subject=subject)


def test_raw_encoded_word_in_subject_is_encoded_not_interpreted() -> None:
    """A subject that looks like an encoded-word is encoded itself, so it reads back literally."""
    sneaky = "x=?UTF-8?Q?=0A?=Bcc: a@b.vn"
    msg = parse(build(subject=sneaky))
    assert msg["Subject"] == sneaky
    assert msg["Bcc"] is None


def test_to_refuses_anything_but_a_bare_address() -> None:
    """The To header holds only an ASCII address, never a name or a second address."""
    for bad in ["A <a@b.vn>", "a@b.vn, c@d.vn", "ví@dụ.vn"]:
        with pytest.raises(HeaderInjectionError):
            build(to=bad)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=300))
def test_any_printable_subject_round_trips(subject: str) -> None:
    """Any printable text, however long, comes back exactly from the stdlib parser."""
    encoded = encode_header_words(subject, prefix_length=9)
    raw = f"Subject: {encoded}\r\n\r\n".encode("ascii")
    assert parse(raw)["Subject"] == subject
