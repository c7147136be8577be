"""Signed tokens: one purpose each, tamper-proof, confirm tokens expire."""

from __future__ import annotations

import time

import pytest

from newsletter.config import Settings
from newsletter.signing import (
    Purpose,
    TokenError,
    make_resident_token,
    make_token,
    read_resident_token,
    read_token,
)

RESIDENT = (Purpose.CONFIRM, Purpose.UNSUBSCRIBE, Purpose.PREFERENCES)


def test_round_trip_for_each_purpose(settings_factory: type[Settings]) -> None:
    """A token gives back the id (and a resident's, the row key) it was made for."""
    settings = settings_factory()
    assert read_token(settings, Purpose.VERP, make_token(settings, Purpose.VERP, 42)) == 42
    for purpose in RESIDENT:
        token = make_resident_token(settings, purpose, 42, "k" * 32)
        assert read_resident_token(settings, purpose, token) == (42, "k" * 32)


def test_a_resident_token_without_a_key_is_refused(settings_factory: type[Settings]) -> None:
    """A link naming only an id (as links did before row keys) opens no resident's page."""
    settings = settings_factory()
    for purpose in RESIDENT:
        with pytest.raises(TokenError):
            read_resident_token(settings, purpose, make_token(settings, purpose, 42))


def test_wrong_purpose_and_tampering_are_refused(settings_factory: type[Settings]) -> None:
    """An unsubscribe token does not confirm; a changed character breaks the signature."""
    settings = settings_factory()
    token = make_resident_token(settings, Purpose.UNSUBSCRIBE, 7, "k")
    with pytest.raises(TokenError):
        read_resident_token(settings, Purpose.PREFERENCES, token)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(TokenError):
        read_resident_token(settings, Purpose.UNSUBSCRIBE, tampered)
    other_key = settings_factory(secret_key="another-secret-key-that-is-long-enough-xyz")
    with pytest.raises(TokenError):
        read_resident_token(other_key, Purpose.UNSUBSCRIBE, token)


def test_confirm_tokens_expire(settings_factory: type[Settings]) -> None:
    """A confirm token older than CONFIRM_TOKEN_DAYS is refused as expired."""
    settings = settings_factory(confirm_token_days=1 / 86400)  # one second
    token = make_resident_token(settings, Purpose.CONFIRM, 5, "k")
    time.sleep(2.1)
    with pytest.raises(TokenError) as failure:
        read_resident_token(settings, Purpose.CONFIRM, token)
    assert failure.value.expired
