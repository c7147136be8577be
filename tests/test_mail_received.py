"""Every kind of mail checked as a receiving server and a resident's client would check it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from newsletter.signing import Purpose, read_token
from tests.support.allmail import (
    BOUNCE_DOMAIN,
    KINDS,
    REPLY_TO,
    SentMail,
    keys_fixture,  # noqa: F401 - a fixture, found by name
    mails_fixture,  # noqa: F401 - a fixture, found by name
)
from tests.support.composedata import parse, parts
from tests.support.dkimkeys import DkimKeys

GMAIL_CLIPS_AT = 102 * 1024
# What a reader would have to decode: emphasis marks, link syntax, heading marks, escapes.
MARKDOWN = re.compile(r"\*\*|__|\]\(|^#{1,6} |^\s*[*+] |\\[*_#\[\]]", re.MULTILINE)


def signed_names(data: bytes) -> list[list[str]]:
    """The h= list of each DKIM-Signature, lower-cased, in order."""
    msg = parse(data)
    out = []
    for value in msg.get_all("DKIM-Signature", []):
        tags = dict(
            part.strip().split("=", 1) for part in re.sub(r"\s+", "", str(value)).split(";") if part
        )
        out.append(tags["h"].lower().split(":"))
    return out


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_every_kind_verifies_and_carries_verp(
    db_backend: str, mails: dict[str, SentMail], keys: DkimKeys
) -> None:
    """Each kind is signed (rsa and ed25519 verify with dkimpy), VERP'd, and under Gmail's clip."""
    assert sorted(mails) == sorted(KINDS)
    for kind, mail in mails.items():
        assert keys.verify_all(mail.data) == [True, True], kind
        local, _, domain = mail.envelope_from.rpartition("@")
        assert domain == BOUNCE_DOMAIN, (kind, mail.envelope_from)
        assert local.startswith("bounces+"), (kind, mail.envelope_from)
        assert len(mail.data) < GMAIL_CLIPS_AT, (kind, len(mail.data))
        for names in signed_names(mail.data):
            for header in ("from", "subject", "date", "message-id", "to", "auto-submitted"):
                assert names.count(header) == 2, f"{kind}: {header} signed and oversigned"
            assert {"feedback-id", "reply-to"} <= set(names), kind


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_list_mail_headers(db_backend: str, mails: dict[str, SentMail]) -> None:
    """List mail carries signed one-click List-Unsubscribe, Feedback-ID and bulk marks."""
    for kind in ("digest", "bulletin", "test-mail"):
        msg = parse(mails[kind].data)
        links = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
        assert links[0].startswith("https://bantin.example.gov.vn/unsubscribe/"), kind
        assert re.fullmatch(rf"mailto:unsubscribe\+[\w.-]+@{re.escape(BOUNCE_DOMAIN)}", links[1])
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        campaign, mail_kind, sender = str(msg["Feedback-ID"]).split(":")
        assert campaign.isdigit()
        assert sender == "example.gov.vn"
        assert mail_kind == ("digest" if kind == "digest" else "bulletin")
        assert (msg["Precedence"], msg["Auto-Submitted"]) == ("bulk", "auto-generated")
        for names in signed_names(mails[kind].data):
            assert {"list-unsubscribe", "list-unsubscribe-post", "precedence"} <= set(names)
    assert parse(mails["bulletin"].data)["Reply-To"] == REPLY_TO
    assert parse(mails["digest"].data)["Reply-To"] is None, "nobody answers a digest"
    confirmation = parse(mails["confirmation"].data)
    assert confirmation["List-Unsubscribe"] is None, "a confirmation is no list mail"
    assert confirmation["Feedback-ID"] == "confirmation:confirmation:example.gov.vn"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_header_added_after_signing_fails(
    db_backend: str, mails: dict[str, SentMail], keys: DkimKeys
) -> None:
    """A Reply-To, a second Subject or a Precedence added after signing breaks every signature."""
    for kind, mail in mails.items():
        for added in (
            b"Reply-To: attacker@example.com",
            b"Subject: Khuyen mai",
            b"Precedence: list",
        ):
            head, _, body = mail.data.partition(b"\r\n\r\n")
            tampered = head + b"\r\n" + added + b"\r\n\r\n" + body
            assert keys.verify_all(tampered) == [False, False], (kind, added)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_confirmation_verp_names_its_subscriber(
    db_backend: str, mails: dict[str, SentMail], settings_factory: Any
) -> None:
    """The confirmation's VERP token names minus the subscriber, so its bounce finds them."""
    mail = mails["confirmation"]
    token = mail.envelope_from.split("@")[0].removeprefix("bounces+")
    verp_id = read_token(settings_factory(), Purpose.VERP, token)
    assert verp_id < 0
    assert parse(mail.data)["To"] == "an@example.vn"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_text_parts_read_as_plain_text(db_backend: str, mails: dict[str, SentMail]) -> None:
    """No Markdown is left in any text part; the sign-off keeps its two lines in both parts."""
    for kind, mail in mails.items():
        text, _ = parts(mail.data)
        assert not MARKDOWN.search(text), (kind, MARKDOWN.findall(text))
    for kind in ("bulletin", "test-mail"):
        text, html = parts(mails[kind].data)
        assert "Thời gian: từ 8 giờ" in text
        assert "trang thông tin (https://example.gov.vn/ban-do)" in text
        assert "- Tổ 1, tổ 2 phường Hội Thương\n- Tổ 5 phường Hòa Bình" in text
        assert "Trân trọng,\nUBND phường Hội Thương" in text
        assert re.search(r"Trân trọng,<br\s*/?>\s*UBND phường Hội Thương", html)
        assert "THÔNG BÁO KHẨN" in text
        assert "THÔNG BÁO KHẨN" in html
        assert "Ban hành Thứ Bảy, 28/11/2026" in text, "date of issue, local time, one date form"


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_what_the_inbox_shows(db_backend: str, mails: dict[str, SentMail]) -> None:
    """Headline-led digest subject, hidden preheaders, titles as alt text, no in-mail anchors."""
    digest = parse(mails["digest"].data)
    assert digest["Subject"] == (
        "Bài số 1: Thành phố triển khai phòng chống bão và 9 tin khác — Bản tin tuần"
    )
    _, html = parts(mails["digest"].data)
    assert 'class="preheader"' in html
    assert "Bài số 2:" in html.split("</div>")[0], "the preheader lists the other headlines"
    assert 'alt="Bài số 3: Thành phố triển khai phòng chống bão"' in html
    assert 'alt=""' not in html
    assert 'href="#' not in html, "contents link to the archive copy, not to in-mail anchors"
    assert re.search(r'href="https://bantin\.example\.gov\.vn/archive/\d+#cm-tin-tuc"', html)
    assert "Thứ Sáu, 27/11/2026" in html
    for kind in ("bulletin", "confirmation"):
        _, html = parts(mails[kind].data)
        assert html.index('class="preheader"') < html.index('class="masthead"'), kind
    _, confirmation = parts(mails["confirmation"].data)
    assert not re.search("[«»]", confirmation)
    assert "#a51c1c" in confirmation, "the same red as every other mail"
