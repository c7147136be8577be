"""Bounce samples (tests/samples/bounces/) filled with signed addresses for a test's settings."""

from __future__ import annotations

from pathlib import Path

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
) -> bytes:
    text = (SAMPLES / f"{name}.eml").read_text(encoding="ascii")
    text = text.replace("@@VERP@@", verp or verp_address(settings, delivery_id))
    unsubscribe = make_resident_token(settings, Purpose.UNSUBSCRIBE, subscriber_id, "k" * 32)
    text = text.replace("@@UNSUB@@", unsubscribe)
    text = text.replace("@@RCPT@@", recipient)
    return text.replace("\n", "\r\n").encode("ascii")
