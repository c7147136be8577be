"""The signed links residents get in mail; composition and delivery build them from here."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.tokens import Purpose, make_token


def confirm_url(settings: Settings, subscriber_id: int) -> str:
    """Opens the confirm page (GET shows a button, POST confirms); expires."""
    return settings.public_link(f"/confirm/{make_token(settings, Purpose.CONFIRM, subscriber_id)}")


def unsubscribe_url(settings: Settings, subscriber_id: int) -> str:
    """For the List-Unsubscribe header (RFC 8058 one-click POST) and the mail footer."""
    token = make_token(settings, Purpose.UNSUBSCRIBE, subscriber_id)
    return settings.public_link(f"/unsubscribe/{token}")


def preferences_url(settings: Settings, subscriber_id: int) -> str:
    """Categories, unsubscribe, export and erase for one subscriber; never expires."""
    token = make_token(settings, Purpose.PREFERENCES, subscriber_id)
    return settings.public_link(f"/preferences/{token}")
