"""The signed links residents get in mail, and per-recipient tokens fast enough for bulk.

`confirm_url`, `unsubscribe_url` and `preferences_url` are the simple way, for one mail.

`signing.make_resident_token` builds an itsdangerous serializer per call (~20 µs); a
digest to 100,000 residents needs three tokens each. LinkMinter derives the HMAC keys
once and produces the same tokens (a test holds it to the signing module), so
`signing.read_resident_token` and `signing.read_token` open them. The one difference:
itsdangerous zlib-compresses a payload when that saves two bytes; for a resident's
payload (`[id,"key"]`, a random key) it almost never does, so the minter does not try
(5 µs a token) and writes the uncompressed form, which itsdangerous reads as well. The subscriber's
`link_key` comes with the claimed row (delivery.claims.claim), so no recipient costs a
query of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib

from newsletter.config import Settings
from newsletter.signing import Purpose, make_resident_token


def confirm_url(settings: Settings, subscriber_id: int, confirm_key: str) -> str:
    """Opens the confirm page (GET shows a button, POST confirms); expires."""
    token = make_resident_token(settings, Purpose.CONFIRM, subscriber_id, confirm_key)
    return settings.public_link(f"/confirm/{token}")


def unsubscribe_url(settings: Settings, subscriber_id: int, link_key: str) -> str:
    """For the List-Unsubscribe header (RFC 8058 one-click POST) and the mail footer."""
    token = make_resident_token(settings, Purpose.UNSUBSCRIBE, subscriber_id, link_key)
    return settings.public_link(f"/unsubscribe/{token}")


def preferences_url(settings: Settings, subscriber_id: int, link_key: str) -> str:
    """Categories, unsubscribe, export and erase for one subscriber; never expires."""
    token = make_resident_token(settings, Purpose.PREFERENCES, subscriber_id, link_key)
    return settings.public_link(f"/preferences/{token}")


MAX_NEVER_COMPRESSED = 10


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class LinkMinter:
    """Unsubscribe, preferences and VERP tokens as itsdangerous.URLSafeSerializer makes them."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.secret_key.encode("utf-8")
        # itsdangerous' default key derivation ("django-concat") with signing.py's salts.
        self._keys = {
            purpose: hashlib.sha1(  # noqa: S324 - itsdangerous' HMAC-SHA1 scheme, not a password hash
                f"newsletter.{purpose.value}".encode() + b"signer" + secret
            ).digest()
            for purpose in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.VERP)
        }
        self.unsubscribe_base = settings.public_link("/unsubscribe/")
        self.preferences_base = settings.public_link("/preferences/")
        self.bounce_domain = settings.bounce_domain
        self.sender_address = settings.sender_address
        self.unsubscribe_domain = settings.bounce_domain or settings.sending_domain

    def token(self, purpose: Purpose, subject_id: int, key: str | None = None) -> str:
        # The compact JSON of an int is its decimal digits, of [id, key] `[id,"key"]`;
        # itsdangerous zlib-compresses a payload when that saves two bytes or more (e.g.
        # 10**12), marking it with a leading ".". zlib's output is never under 9 bytes, so
        # ids of up to 10 digits skip the (slow) try.
        if key is None:
            data = str(int(subject_id)).encode("ascii")
        elif key.isascii() and key.isalnum():  # the row keys we make: JSON needs no escape
            data = f'[{int(subject_id)},"{key}"]'.encode("ascii")
        else:
            data = json.dumps([int(subject_id), key], separators=(",", ":")).encode("utf-8")
        payload = _b64(data)
        # A keyed payload holds a random key: zlib (5 µs a try) almost never saves
        # anything on it, and itsdangerous reads an uncompressed payload of any length.
        if key is None and len(data) > MAX_NEVER_COMPRESSED:
            compressed = zlib.compress(data)
            if len(compressed) < len(data) - 1:
                payload = b"." + _b64(compressed)
        signature = _b64(hmac.digest(self._keys[purpose], payload, "sha1"))
        return (payload + b"." + signature).decode("ascii")

    def unsubscribe_token(self, subscriber_id: int, link_key: str) -> str:
        return self.token(Purpose.UNSUBSCRIBE, subscriber_id, link_key)

    def preferences_token(self, subscriber_id: int, link_key: str) -> str:
        return self.token(Purpose.PREFERENCES, subscriber_id, link_key)

    def verp_token(self, delivery_id: int) -> str:
        return self.token(Purpose.VERP, delivery_id)

    def return_path(self, delivery_id: int) -> str:
        """The envelope sender: `bounces+TOKEN@BOUNCE_DOMAIN` (VERP), else NEWSLETTER_FROM.

        The token names a delivery (a ledger row). A confirmation, which has no row, passes
        minus its subscriber's id (`confirmation_verp_id`); bounces/rules.py reads it so.
        """
        if not self.bounce_domain:
            return self.sender_address
        return f"bounces+{self.verp_token(delivery_id)}@{self.bounce_domain}"

    def unsubscribe_mailto(self, token: str) -> str:
        """The List-Unsubscribe mailto address; the bounce intake unsubscribes on receipt."""
        return f"unsubscribe+{token}@{self.unsubscribe_domain}"


def confirmation_verp_id(subscriber_id: int) -> int:
    """The VERP id of a subscriber's confirmation mail: ledger ids are positive, so minus."""
    return -subscriber_id
