"""Hypothesis properties: addresses, signed tokens and message building hold for any text."""

from __future__ import annotations

import string
from collections.abc import Callable
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newsletter.config import Settings
from newsletter.idn import ascii_address
from newsletter.logs import redact
from newsletter.mail.links import LinkMinter
from newsletter.mail.mime import (
    HeaderInjectionError,
    MessageTemplate,
    build_message,
    format_address,
)
from newsletter.signing import (
    Purpose,
    TokenError,
    make_resident_token,
    make_token,
    read_resident_token,
    read_token,
)
from newsletter.subscribers.addresses import (
    InputError,
    check_text,
    normalize_lenient,
    parse_address,
    suppression_text,
)

# More cases than Hypothesis' default 100 where they are cheap; the file stays a few seconds.
MANY = settings(max_examples=400, deadline=None)
# A fixture-built Settings is immutable and shared safely by every example of a test.
FIXTURE_OK = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"}

# --- addresses --------------------------------------------------------------------------

VIETNAMESE = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
LABELS = st.text(
    string.ascii_letters + string.digits + "-" + VIETNAMESE, min_size=1, max_size=12
) | (st.text(st.characters(categories=["L", "M", "N"]), min_size=1, max_size=8))
LOCAL_PARTS = st.text(string.ascii_letters + string.digits + ".+-_'", min_size=1, max_size=20)
TYPED_ADDRESSES = st.one_of(
    st.emails(),
    st.builds(
        lambda pad, local, labels, tld: f"{pad}{local}@{'.'.join(labels)}.{tld}{pad}",
        st.sampled_from(["", " ", "\t"]),
        LOCAL_PARTS,
        st.lists(LABELS, min_size=1, max_size=3),
        st.sampled_from(["vn", "com", "VN", "gov.vn", "xn--p1ai", "test", "local"]),
    ),
    st.text(),
)


@MANY
@given(raw=TYPED_ADDRESSES, development=st.booleans())
def test_parse_address_raises_only_its_own_error(raw: str, development: bool) -> None:
    """Whatever a resident types, parse_address returns an address or says InputError."""
    try:
        address = parse_address(raw, development=development)
    except InputError as exc:
        refused = exc
    else:
        assert address.ascii.isascii()
        assert not CONTROL & set(address.normalized)
        return
    assert refused.field == "email"
    assert refused.message


@MANY
@given(raw=TYPED_ADDRESSES, development=st.booleans())
def test_normalized_address_is_stable(raw: str, development: bool) -> None:
    """Normalizing an accepted address again gives it back unchanged, with the same SMTP form."""
    try:
        address = parse_address(raw, development=development)
    except InputError:
        assume(False)
        return
    again = parse_address(address.normalized, development=development)
    assert again == address
    assert parse_address(address.ascii, development=development).ascii == address.ascii
    assert ascii_address(address.normalized) == address.ascii


@MANY
@given(raw=TYPED_ADDRESSES)
def test_lenient_normalization_is_idempotent(raw: str) -> None:
    """The look-up key (erase, bounces) is a fixed point, so a stored key finds itself."""
    key = normalize_lenient(raw)
    assert normalize_lenient(key) == key
    assert suppression_text(key) == suppression_text(raw)


@MANY
@given(raw=TYPED_ADDRESSES)
def test_logs_never_show_an_accepted_address(raw: str) -> None:
    """Every address we would store or mail is masked in a log line, in either spelling."""
    try:
        address = parse_address(raw, development=True)
    except InputError:
        assume(False)
        return
    for spelling in (address.normalized, address.ascii):
        local, _, domain = spelling.rpartition("@")
        masked = f"{local[0]}***@{domain}"
        line = redact(f"confirmation to {spelling} sent, <{spelling}>.")
        assert line == f"confirmation to {masked} sent, <{masked}>."


@MANY
@given(value=st.text())
def test_check_text_passes_clean_text_unchanged(value: str) -> None:
    """check_text returns its input or raises InputError; it never rewrites text silently."""
    try:
        checked = check_text(value, field="name", label="Họ và tên")
    except InputError as exc:
        refused: InputError | None = exc
    else:
        assert checked == value
        refused = None
    assert refused is None or refused.field == "name"


# --- tokens -----------------------------------------------------------------------------

IDS = st.integers(min_value=-(2**70), max_value=2**70)
MINTED = (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.VERP)


@pytest.fixture
def app_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory()


@FIXTURE_OK
@given(subject_id=IDS, purpose=st.sampled_from(MINTED))
def test_link_minter_equals_make_token(
    app_settings: Settings, subject_id: int, purpose: Purpose
) -> None:
    """LinkMinter's fast tokens are byte-for-byte the signing module's, and read back."""
    if purpose is Purpose.VERP:
        token = LinkMinter(app_settings).token(purpose, subject_id)
        assert token == make_token(app_settings, purpose, subject_id)
        assert read_token(app_settings, purpose, token) == subject_id
        return
    key = f"{subject_id:032x}"[-32:]
    token = LinkMinter(app_settings).token(purpose, subject_id, key)
    reference = make_resident_token(app_settings, purpose, subject_id, key)
    # itsdangerous compresses a repetitive key ("000…"); the minter never tries (random
    # keys do not compress), and both forms read back alike.
    if not reference.startswith("."):
        assert token == reference
    assert read_resident_token(app_settings, purpose, token) == (subject_id, key)


@FIXTURE_OK
@given(subject_id=IDS, purpose=st.sampled_from(list(Purpose)), other=st.sampled_from(list(Purpose)))
def test_token_opens_its_own_door_only(
    app_settings: Settings, subject_id: int, purpose: Purpose, other: Purpose
) -> None:
    """A token round-trips for its purpose and is refused for every other purpose."""
    token = make_token(app_settings, purpose, subject_id)
    assert read_token(app_settings, purpose, token) == subject_id
    if other is not purpose:
        with pytest.raises(TokenError):
            read_token(app_settings, other, token)


@FIXTURE_OK
@given(subject_id=IDS, purpose=st.sampled_from(list(Purpose)), data=st.data())
def test_altered_token_is_refused(
    app_settings: Settings, subject_id: int, purpose: Purpose, data: st.DataObject
) -> None:
    """Changing any one character of a token makes it invalid (no forged id gets through)."""
    token = make_token(app_settings, purpose, subject_id)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_."))
    forged = token[:index] + replacement + token[index + 1 :]
    assume(forged != token)
    try:
        value = read_token(app_settings, purpose, forged)
    except TokenError:
        return
    # base64's last character may carry unused bits: the same bytes, so the same id.
    assert value == subject_id


@FIXTURE_OK
@given(token=st.text(), purpose=st.sampled_from(list(Purpose)))
def test_any_text_is_a_token_or_token_error(
    app_settings: Settings, token: str, purpose: Purpose
) -> None:
    """read_token on arbitrary text raises only TokenError (the pages answer 400, never 500)."""
    try:
        value = read_token(app_settings, purpose, token)
    except TokenError:
        return
    assert isinstance(value, int)


# --- message building -------------------------------------------------------------------

SENDER = "bantin@example.gov.vn"
SURROGATES = {chr(c) for c in range(0xD800, 0xE000)}
HEADER_TEXT = st.one_of(
    st.text(),
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, exclude_categories=())),
    st.text(alphabet=st.characters(codec="ascii")),
    st.text(VIETNAMESE + " =?!\"'(),.:;<>@[\\]", max_size=200),
)
BODY_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r", blacklist_categories=["Cs"]), max_size=2000
)
EXTRA = [
    ("List-Id", "<bantin.example.gov.vn>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
]
EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def sender_name(raw: bytes) -> str:
    """The From display name as RFC 2047 decodes it.

    The modern parser keeps the folding space between two encoded-words of a display
    name (RFC 2047 section 6.2 says to drop it); the legacy decoder follows the RFC.
    """
    decoded = str(make_header(decode_header(message_from_bytes(raw)["From"])))
    if decoded == SENDER:
        return ""
    name, _, address = decoded.rpartition(" <")
    assert address == f"{SENDER}>"
    return name


def check_wire_form(raw: bytes) -> None:
    """ASCII, CRLF only, no line over RFC 5322's 998 characters."""
    assert raw.isascii()
    lines = raw.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert all(len(line) <= 998 for line in lines)


@MANY
@given(subject=HEADER_TEXT, name=HEADER_TEXT, text=BODY_TEXT, with_html=st.booleans())
def test_built_message_is_exact_and_injection_free(
    subject: str, name: str, text: str, with_html: bool
) -> None:
    """Any subject and sender name is refused (controls, surrogates) or round-trips exactly."""
    refused = bool((CONTROL | SURROGATES) & set(subject + name))
    try:
        raw = build_message(
            from_header=format_address(SENDER, name),
            to="an@example.vn",
            subject=subject,
            text=text,
            html=f"<p>{text}</p>" if with_html else None,
            message_id="<1.a@example.gov.vn>",
            headers=EXTRA,
        )
    except HeaderInjectionError:
        assert refused
        return
    assert not refused
    check_wire_form(raw)
    msg = parse(raw)
    single_part = [] if with_html else ["Content-Transfer-Encoding"]
    assert list(msg.keys()) == EXPECTED_HEADERS + single_part
    assert msg["Subject"] == subject
    sender = msg["From"].addresses
    assert len(sender) == 1
    assert sender[0].addr_spec == SENDER
    assert sender_name(raw) == name
    body = msg.get_body(("plain",))
    assert body is not None
    assert body.get_content() == text


@MANY
@given(
    subject=HEADER_TEXT,
    name=HEADER_TEXT,
    text=BODY_TEXT,
    token=st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=80),
)
def test_message_template_equals_build_message(
    subject: str, name: str, text: str, token: str
) -> None:
    """The fast path's bytes equal build_message's for any subject, name, body and token."""
    assume(not (CONTROL | SURROGATES) & set(subject + name))
    slots = {"to": "SLOTto7", "mid": "SLOTmid7", "url": "SLOTurl7"}
    assume(not any(marker in subject + name + text for marker in slots.values()))
    url = f"https://bantin.example.gov.vn/unsubscribe/{token}"
    common = {
        "from_header": format_address(SENDER, name),
        "subject": subject,
        "date": "Sat, 28 Nov 2026 10:00:00 +0000",
        "boundary": "=_bt_fixed",
    }
    template = MessageTemplate(
        slots=slots,
        to=slots["to"],
        message_id=slots["mid"],
        text=f"{text}\nHủy đăng ký: {slots['url']}",
        html=f'<p>{text}</p><a href="{slots["url"]}">Hủy</a>',
        headers=[("List-Unsubscribe", f"<{slots['url']}>")],
        **common,
    )
    filled = template.fill({"to": "an@example.vn", "mid": "<1.a@example.gov.vn>", "url": url})
    expected = build_message(
        to="an@example.vn",
        message_id="<1.a@example.gov.vn>",
        text=f"{text}\nHủy đăng ký: {url}",
        html=f'<p>{text}</p><a href="{url}">Hủy</a>',
        headers=[("List-Unsubscribe", f"<{url}>")],
        body_encoding="quoted-printable",
        **common,
    )
    assert filled == expected
    check_wire_form(filled)
    assert parse(filled)["Subject"] == subject


# --- regressions the properties found ---------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Phòng A, Phòng B",
        "<evil@example.com>",
        "Ban: tin;",
        'Ban "tin"',
        "a@b",
        "(x)",
        ".",
        "Tp. Hoa Sen",
    ],
)
def test_display_name_with_specials_stays_one_mailbox(name: str) -> None:
    """A sender name with `,` `<` `:` `@` and the like is encoded, never read as more addresses."""
    header = format_address(SENDER, name)
    raw = f"From: {header}\r\n\r\n".encode("ascii")
    sender = parse(raw)["From"].addresses
    assert [a.addr_spec for a in sender] == [SENDER]
    assert sender_name(raw) == name


@pytest.mark.parametrize("value", ["\ud800", "Bão \udfff số 9"])
def test_lone_surrogate_is_a_header_error(value: str) -> None:
    """A lone surrogate in a subject or name is refused as HeaderInjectionError, not a crash."""
    with pytest.raises(HeaderInjectionError):
        format_address(SENDER, value)
    with pytest.raises(HeaderInjectionError):
        build_message(
            from_header=SENDER, to="an@example.vn", subject=value, text="", message_id="<m@x>"
        )
