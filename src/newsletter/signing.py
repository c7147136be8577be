"""Signed tokens for links in mail: one salt per purpose, so a token opens one door only.

A resident's token (confirm, unsubscribe, preferences) names the subscriber's id and a
key of that subscriber's row (`link_key`, or `confirm_key` for the one confirmation
link that works): the page acts only when the row still holds that key, so a link of an
erased resident acts on no one, whoever holds the id or the address later.
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from newsletter.config import Settings


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    VERP = "verp"
    CHANGE_ADDRESS = "change-address"


# Links that expire (after CONFIRM_TOKEN_DAYS): both prove a mailbox at one moment.
TIMED = frozenset({Purpose.CONFIRM, Purpose.CHANGE_ADDRESS})


class TokenError(ValueError):
    """The token is tampered with, expired or meant for another purpose."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _salt(purpose: Purpose) -> str:
    return f"newsletter.{purpose.value}"


def make_token(settings: Settings, purpose: Purpose, subject_id: int) -> str:
    """A URL-safe token naming `subject_id` (a delivery, for VERP) for `purpose`.

    Confirm and change-address tokens carry a timestamp (they expire); unsubscribe,
    preferences and VERP tokens do not, so a link in a years-old mail still unsubscribes.
    """
    if purpose in TIMED:
        return str(
            URLSafeTimedSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject_id)
        )
    return str(URLSafeSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject_id))


def make_resident_token(settings: Settings, purpose: Purpose, subscriber_id: int, key: str) -> str:
    """A token naming the subscriber `subscriber_id` whose row holds `key`."""
    subject = [int(subscriber_id), key]
    if purpose in TIMED:
        return str(URLSafeTimedSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject))
    return str(URLSafeSerializer(settings.secret_key, salt=_salt(purpose)).dumps(subject))


def read_resident_token(settings: Settings, purpose: Purpose, token: str) -> tuple[int, str]:
    """(subscriber id, key) inside a resident's `token`, or TokenError.

    The caller acts only on the subscriber whose row holds that key.
    """
    value = _loads(settings, purpose, token)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or isinstance(value[0], bool)
        or not isinstance(value[1], str)
        or not value[1]
    ):
        raise TokenError("invalid token")
    return value[0], value[1]


def _loads(settings: Settings, purpose: Purpose, token: str) -> object:
    try:
        if purpose in TIMED:
            return URLSafeTimedSerializer(settings.secret_key, salt=_salt(purpose)).loads(
                token, max_age=int(settings.confirm_token_days * 86400)
            )
        return URLSafeSerializer(settings.secret_key, salt=_salt(purpose)).loads(token)
    except SignatureExpired as exc:
        raise TokenError("token expired", expired=True) from exc
    except BadSignature as exc:
        raise TokenError("invalid token") from exc


def read_token(settings: Settings, purpose: Purpose, token: str) -> int:
    """The id inside a VERP `token` (a delivery's), or TokenError."""
    value = _loads(settings, purpose, token)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("invalid token")
    return value
