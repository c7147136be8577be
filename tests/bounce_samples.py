"""Bounce samples (tests/samples/bounces/) filled with signed addresses for a test's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.bounces.classify import BounceKind
from newsletter.config import Settings
from newsletter.signing import Purpose, make_resident_token, make_token

SAMPLES = Path(__file__).parent / "samples" / "bounces"


def verp_address(settings: Settings, delivery_id: int) -> str:
    return f"bounces+{make_token(settings, Purpose.VERP, delivery_id)}@{settings.bounce_domain}"


def sample(
    name: str,
    settings: Settings,
    *,
    delivery_id: int = 1,
    subscriber_id: int = 1,
    recipient: str = "redacted@hopthu.example",
    verp: str | None = None,
    link_key: str = "k" * 32,
) -> bytes:
    text = (SAMPLES / f"{name}.eml").read_text(encoding="ascii")
    text = text.replace("@@VERP@@", verp or verp_address(settings, delivery_id))
    unsubscribe = make_resident_token(settings, Purpose.UNSUBSCRIBE, subscriber_id, link_key)
    text = text.replace("@@UNSUB@@", unsubscribe)
    text = text.replace("@@RCPT@@", recipient)
    return text.replace("\n", "\r\n").encode("ascii")


@dataclass(frozen=True)
class Expected:
    """What parse_report must say of a sample: its kind (None: nothing to act on), the
    addresses it names, and the source reader (None: any)."""

    kind: BounceKind | None
    addresses: tuple[str, ...]
    source: str | None = None
    status: str | None = None
    auto_reply: bool = False


H, S, P, C = BounceKind.HARD, BounceKind.SOFT, BounceKind.POLICY, BounceKind.COMPLAINT
# Every sample of tests/samples/bounces/ with its expected answer; the formats follow each
# MTA's or provider's documented notices (the sources are named in docs/bounces.md).
EXPECTED: dict[str, Expected] = {
    "gmail_hard": Expected(H, ("khong.ton.tai@gmail.com",), "dsn", "5.1.1"),
    "outlook_hard": Expected(H, ("nobody.here@outlook.com",), "dsn", "5.1.10"),
    "yahoo_hard": Expected(H, ("het.han@yahoo.com",), "qmail"),
    "postfix_hard": Expected(H, ("nghi.viec@congty.example",), "dsn", "5.1.1"),
    "postfix_delayed": Expected(S, ("day.hop.thu@congty.example",), "dsn", "4.2.2"),
    "exim_hard": Expected(H, ("cu.hoc.sinh@truonghoc.example",), "flufl", "5.1.1"),
    "policy_571": Expected(P, ("phong.vien@baochi.example",), "dsn", "5.7.1"),
    "arf_complaint": Expected(C, ("redacted@hopthu.example",), "arf"),
    "dragonfly_full": Expected(S, ("ke.toan@congty.example",), "dragonfly", "5.2.2"),
    "dragonfly_hard": Expected(H, ("giao.vien.cu@truonghoc.example",), "dragonfly", "5.1.1"),
    "opensmtpd_hard": Expected(H, ("to.dan.pho@phuong.example",), "opensmtpd", "5.1.1"),
    "opensmtpd_delayed": Expected(S, ("ban.quan.ly@phuong.example",), "opensmtpd"),
    "workmail_expired": Expected(S, ("khach.san@dulich.example",), "dsn"),
    "office365_ndr": Expected(H, ("chuyen.vien@sotaichinh.example",), "office365", "5.1.10"),
    "office365_html": Expected(H, ("khong.co@contoso.example",), "office365", "5.1.10"),
    "yahoo_full": Expected(S, ("day.hop@yahoo.com",), "qmail"),
    "sendmail_old": Expected(H, ("nhan.vien.cu@sobo.example",), "sendmail"),
    "qmail_quoted_original": Expected(H, ("can.bo.xa@xa.example",), "qmail", None),
    "exim_expired": Expected(S, ("tram.y.te@bo.example",), "flufl"),
    "ses_bounce_permanent": Expected(H, ("khong.co@hopthu.example",), "ses-bounce", "5.1.1"),
    "ses_bounce_transient": Expected(S, ("hop.thu.day@hopthu.example",), "ses-bounce"),
    "ses_complaint": Expected(C, ("phan.nan@hopthu.example",), "ses-complaint"),
    "ses_delivery": Expected(None, (), "ses-delivery"),
    "outlook_complaint": Expected(C, ("nguoi.dung@hotmail.com",), "arf"),
    "icloud_complaint": Expected(C, ("cu.dan@icloud.com",), "arf"),
    "arf_no_rcpt": Expected(C, ("nguoi.nhan@hopthu.example",), "arf"),
    "policy_blacklisted": Expected(P, ("ca.nhan@hopthu.example",), "dsn", "5.7.1"),
    "relay_denied": Expected(P, ("ho.dan@phuong.example",), "dsn", "5.7.1"),
    "rate_limited": Expected(S, ("cu.dan@163.example",), "dsn"),
    "mailbox_full_522": Expected(S, ("hop.day@hopthu.example",), "dsn", "5.2.2"),
    "disabled_521": Expected(H, ("tai.khoan.khoa@gmail.example",), "dsn", "5.2.1"),
    "delivered_dsn": Expected(None, (), "dsn"),
    "autoreply_vi": Expected(None, (), "auto-reply", auto_reply=True),
    "autoreply_en": Expected(None, (), "auto-reply", auto_reply=True),
    "unsubscribe_mailto": Expected(None, (), "unsubscribe"),
}
