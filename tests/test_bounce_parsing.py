"""Bounce and complaint messages are classified right, from RFC and provider formats."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from newsletter.bounces.classify import classify
from newsletter.bounces.parse import BounceKind, classify_smtp_rejection, parse_report
from newsletter.config import Settings
from newsletter.subscribers.addresses import mailbox_key
from tests.bounce_samples import EXPECTED, sample


@pytest.fixture
def settings(settings_factory: type[Settings]) -> Settings:
    return settings_factory(bounce_domain="bounce.example.gov.vn")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_samples_are_read_as_expected(settings: Settings, name: str) -> None:
    """Each sample (DSN, ARF, SES, DragonFly, OpenSMTPD, WorkMail, Office 365, qmail/Yahoo,
    sendmail, Outlook/iCloud complaints, auto-replies, mailto unsubscribes) gives its kind,
    addresses and delivery."""
    expected = EXPECTED[name]
    raw = sample(name, settings, delivery_id=4242)
    report = parse_report(raw, settings)
    assert report.kind is expected.kind
    assert tuple(sorted(f.address for f in report.failures if f.address)) == expected.addresses
    assert report.auto_reply is expected.auto_reply
    if expected.source is not None:
        assert report.source == expected.source
    if expected.status is not None:
        assert report.failures[0].status == expected.status
    if b"bounces+" in raw:
        assert report.delivery_id == 4242
    assert not report.forged_verp


def test_status_never_comes_from_the_quoted_original(settings: Settings) -> None:
    """Headers quoted from the original (X-Mailman-Version: 2.0.8, X-Priority: 4.4.7) are
    never read as the failure's status."""
    report = parse_report(sample("qmail_quoted_original", settings), settings)
    assert [(f.kind, f.status) for f in report.failures] == [(BounceKind.HARD, None)]
    report = parse_report(sample("dragonfly_full", settings), settings)
    assert [f.status for f in report.failures] == ["5.2.2"]


NOT_ADDRESSES = [
    'rfc822; {"emailAddress":"a@b.example"}',
    "rfc822; |/usr/bin/procmail -f-",
    "rfc822; /var/mail/nguoi.dan",
    "rfc822; @mx.example.org",
    "x400; /S=zzzzz/OU=example/PRMD=UK.AC/ADMD= /C=GB/",
    "rfc822; userx@sims-ms-daemon",
    'rfc822; nguoi.dan@hopthu.example",',
]


@pytest.mark.parametrize("value", NOT_ADDRESSES)
def test_a_non_address_is_never_reported(settings: Settings, value: str) -> None:
    """A recipient field that is not one whole mailbox names nobody."""
    raw = sample("policy_571", settings).replace(
        b"Final-Recipient: rfc822; phong.vien@baochi.example", f"Final-Recipient: {value}".encode()
    )
    assert parse_report(raw, settings).failures == []


def test_original_recipient_is_preferred(settings: Settings) -> None:
    """When both exist, Original-Recipient (what we sent to) wins over Final-Recipient."""
    raw = sample("relay_denied", settings).replace(
        b"Final-Recipient: rfc822; ho.dan@phuong.example",
        b"Final-Recipient: rfc822; hd.2026@mbox.phuong.example",
    )
    assert [f.address for f in parse_report(raw, settings).failures] == ["ho.dan@phuong.example"]


def test_arf_complaint_names_the_subscriber(settings: Settings) -> None:
    """An RFC 5965 abuse report is a complaint about the subscriber in its original mail."""
    raw = sample("arf_complaint", settings, delivery_id=99, subscriber_id=31)
    report = parse_report(raw, settings)
    assert report.kind is BounceKind.COMPLAINT
    assert report.feedback_type == "abuse"
    assert report.subscriber_id == 31
    assert report.delivery_id == 99


def test_forged_verp_is_flagged(settings: Settings) -> None:
    """A VERP address whose signature does not match names no delivery."""
    good = sample("gmail_hard", settings, delivery_id=5).decode()
    token = good.split("bounces+", 1)[1].split("@", 1)[0]
    forged_token = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    forged = sample("gmail_hard", settings, verp=f"bounces+{forged_token}@bounce.example.gov.vn")
    report = parse_report(forged, settings)
    assert report.delivery_id is None
    assert report.forged_verp


def test_verp_for_another_id_cannot_be_made_by_editing(settings: Settings) -> None:
    """Changing the id inside a VERP token breaks its signature."""
    other = settings.model_copy(update={"secret_key": "another-secret-key-that-is-long-enough!!"})
    raw = sample("gmail_hard", other, delivery_id=6)
    report = parse_report(raw, settings)
    assert report.delivery_id is None
    assert report.forged_verp


@pytest.mark.parametrize(
    ("code", "reply", "kind"),
    [
        (550, "5.1.1 no such user", BounceKind.HARD),
        (550, "mailbox unavailable", BounceKind.HARD),
        (550, "5.2.1 The email account that you tried to reach is disabled", BounceKind.HARD),
        (554, "5.7.1 rejected as spam", BounceKind.POLICY),
        (550, "5.7.1 <a@b.example>: Relaying denied", BounceKind.POLICY),
        (550, "relay not permitted", BounceKind.POLICY),
        (554, "5.7.1 IP address blacklisted", BounceKind.POLICY),
        (552, "5.2.2 Mailbox full", BounceKind.SOFT),
        (550, "5.2.2 mailbox full", BounceKind.SOFT),
        (550, "Ip frequency limited", BounceKind.SOFT),
        (552, "5.3.4 Message too big for system", BounceKind.SOFT),
        (451, "4.3.0 try later", BounceKind.SOFT),
        (450, "4.2.0 greylisted, come back later", BounceKind.SOFT),
    ],
)
def test_smtp_time_rejections(code: int, reply: str, kind: BounceKind) -> None:
    """At SMTP time only a missing or disabled mailbox is hard; full, too large, rate-limited
    and 4xx are soft; relay, blocklist and spam refusals are policy."""
    assert classify_smtp_rejection(code, reply) is kind


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind"),
    [
        ("5.0.0", "smtp; 550 5.1.1 <a@b.example>... User unknown", BounceKind.HARD),
        ("5.0.0 (recipient reached disk quota)", None, BounceKind.SOFT),
        ("5.4.7", "retry timeout exceeded", BounceKind.SOFT),
        ("5.0.0", "554 4.4.7 Message expired: unable to deliver in 840 minutes", BounceKind.SOFT),
        ("4.4.1", "Host or domain name not found", BounceKind.SOFT),
        ("5.4.4", "Host or domain name not found. Name service error", BounceKind.HARD),
        ("5.7.26", "Unauthenticated email from example.gov.vn is not accepted", BounceKind.POLICY),
        (None, "Contact support at 480-624-2500. Mailfolder is full.", BounceKind.SOFT),
    ],
)
def test_status_and_text_classification(
    status: str | None, diagnostic: str | None, kind: BounceKind
) -> None:
    """The text is read before the code, the most specific code wins, and a phone number is
    no reply code."""
    assert classify(status, diagnostic) is kind


def test_hostile_json_is_not_a_crash(settings: Settings) -> None:
    """A body of JSON nested thousands deep (or cut short) is simply not an SES notice."""
    head = b"From: x@y.example\r\nContent-Type: text/plain\r\n\r\n"
    for body in (b'{"a":' * 50000, b'{"notificationType": "Bounce", "bounce": {'):
        report = parse_report(head + body, settings)
        assert report.failures == []


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(EXPECTED)),
    where=st.floats(min_value=0, max_value=1),
    cut=st.integers(min_value=0, max_value=200),
    junk=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")),
)
def test_damaged_reports_never_crash_or_name_a_non_address(
    settings: Settings, name: str, where: float, cut: int, junk: bytes
) -> None:
    """Any sample with bytes cut out and junk put in parses without error, and whatever
    it names is a whole mailbox."""
    raw = sample(name, settings)
    at = int(len(raw) * where)
    report = parse_report(raw[:at] + junk + raw[at + cut :], settings)
    for failure in report.failures:
        assert failure.address == "" or mailbox_key(failure.address) == failure.address
