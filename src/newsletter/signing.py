"""Signed tokens for links in mail: one salt per purpose, so a token opens one door only."""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from newsletter.config import Settings


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VERP = "verp"


class TokenError(ValueError):
    """The token is tampered with, expired or meant for another purpose."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _salt(purpose: Purpose) -> str:
    return f"newsletter.{purpose.value}"


def make_token(settings: Settings, purpose: Purpose, subject_id: int) -> str:
    """A URL-safe token naming `subject_id` for `purpose`.

    Confirm tokens carry a timestamp (they expire); unsubscribe, preferences and VERP
    tokens do not, so a link in a years-old mail still unsubscribes.
    """
    if purpose is Purpose.CONFIRM:
        return str(
            URLSafeTimedSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject_id)
        )
    return str(URLSafeSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject_id))


def read_token(settings: Settings, purpose: Purpose, token: str) -> int:
    """The id inside `token`, or TokenError."""
    try:
        if purpose is Purpose.CONFIRM:
            value = URLSafeTimedSerializer(settings.secret_key, salt=_salt(purpose)).loads(
                token, max_age=int(settings.confirm_token_days * 86400)
            )
        else:
            value = URLSafeSerializer(settings.secret_key, salt=_salt(purpose)).loads(token)
    except SignatureExpired as exc:
        raise TokenError("token expired", expired=True) from exc
    except BadSignature as exc:
        raise TokenError("invalid token") from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("invalid token")
    return value
