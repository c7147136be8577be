"""Plain text from HTML: the one rule for article titles, authors and digest summaries."""

from __future__ import annotations

from newsletter.sanitize import one_line, plain_text


def test_markup_becomes_one_line_of_text() -> None:
    """Block tags leave a space, active content goes with its text, entities are decoded."""
    assert plain_text("<p>Cắt   điện</p><p>Phường\n1</p><br>xong") == "Cắt điện Phường 1 xong"
    assert plain_text("Tin<script>alert(1)</script> <iframe>x</iframe>mới") == "Tin mới"
    assert plain_text("A &amp; B &lt;i&gt; <b>đậm</b>") == "A & B <i> đậm"


def test_decomposed_input_comes_out_nfc() -> None:
    """A combining mark split from its letter by an entity or a tag is composed again."""
    assert plain_text("Hoa Se<i>\u0300</i>n &amp; To&#770;m") == "Hoa Sèn & Tôm"


def test_limit_cuts_at_a_word_boundary() -> None:
    """Past `limit` characters the text ends at a whole word, without its punctuation, in "…"."""
    text = "Ủy ban nhân dân thành phố, thông báo lịch cắt điện."
    assert plain_text(text, limit=len(text)) == text
    assert plain_text(text, limit=28) == "Ủy ban nhân dân thành phố…"


def test_one_line_keeps_text_literal() -> None:
    """`one_line` treats its input as text: controls and newlines become one space, `<` stays."""
    assert one_line(" Tin\r\nBcc: x\x00<b> ") == "Tin Bcc: x <b>"
