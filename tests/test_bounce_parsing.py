"""Bounce and complaint messages are classified right, from RFC and provider formats."""

from __future__ import annotations

import pytest

from newsletter.bounces.parse import BounceKind, classify_smtp_rejection, parse_report
from newsletter.config import Settings
from tests.bounce_samples import sample


@pytest.fixture
def settings(settings_factory: type[Settings]) -> Settings:
    return settings_factory(bounce_domain="bounce.example.gov.vn")


@pytest.mark.parametrize(
    ("name", "kind", "address", "status"),
    [
        ("gmail_hard", BounceKind.HARD, "khong.ton.tai@gmail.com", "5.1.1"),
        ("outlook_hard", BounceKind.HARD, "nobody.here@outlook.com", "5.1.10"),
        ("yahoo_hard", BounceKind.HARD, "het.han@yahoo.com", None),
        ("postfix_hard", BounceKind.HARD, "nghi.viec@congty.example", "5.1.1"),
        ("postfix_delayed", BounceKind.SOFT, "day.hop.thu@congty.example", "4.2.2"),
        ("exim_hard", BounceKind.HARD, "cu.hoc.sinh@truonghoc.example", "5.1.1"),
        ("policy_571", BounceKind.POLICY, "phong.vien@baochi.example", "5.7.1"),
    ],
)
def test_bounce_formats_are_classified(
    settings: Settings, name: str, kind: BounceKind, address: str, status: str | None
) -> None:
    """Each provider's bounce names the failed address, its kind and its delivery."""
    report = parse_report(sample(name, settings, delivery_id=4242), settings)
    assert report.kind is kind
    assert [f.address for f in report.failures] == [address]
    if status is not None:
        assert report.failures[0].status == status
    assert report.delivery_id == 4242
    assert not report.forged_verp


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
        (554, "5.7.1 rejected as spam", BounceKind.POLICY),
        (550, "mailbox unavailable", BounceKind.HARD),
        (451, "4.3.0 try later", BounceKind.SOFT),
    ],
)
def test_smtp_time_rejections(code: int, reply: str, kind: BounceKind) -> None:
    """5xx at SMTP time is hard, except 5.7.x policy refusals; 4xx is soft."""
    assert classify_smtp_rejection(code, reply) is kind
