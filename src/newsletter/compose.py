"""Composition of a campaign's messages (see outgoing.py for the seam with delivery).

FOUNDATION PLACEHOLDER: this first version builds every message from the campaign's
stored subject and bodies with `message.build_message`, one per recipient. The
composition issue replaces the internals (templates per segment, pre-encoded bytes,
DKIM) and keeps `composer_for`'s signature.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.message import build_message, format_address, make_message_id
from newsletter.models import Campaign
from newsletter.outgoing import Composer, OutgoingMessage, Recipient
from newsletter.tokens import Purpose, make_token


def ascii_address(address: str) -> str:
    """`address` with its domain as IDNA A-labels (for relays without SMTPUTF8)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}" if not domain.isascii() else address


class SimpleComposer:
    def __init__(self, settings: Settings, campaign: Campaign) -> None:
        self.settings = settings
        self.subject = campaign.subject
        self.text = campaign.body_text or ""
        self.html = campaign.body_html
        self.from_header = format_address(settings.sender_address, settings.sender_name)

    def compose(self, recipient: Recipient) -> OutgoingMessage:
        settings = self.settings
        unsubscribe = settings.public_link(
            "/unsubscribe/" + make_token(settings, Purpose.UNSUBSCRIBE, recipient.subscriber_id)
        )
        message_id = make_message_id(settings.sending_domain)
        to = ascii_address(recipient.email)
        data = build_message(
            from_header=self.from_header,
            to=to,
            subject=self.subject,
            text=f"{self.text}\n\nHủy đăng ký: {unsubscribe}\n",
            html=self.html,
            message_id=message_id,
            headers=[
                ("List-Unsubscribe", f"<{unsubscribe}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
        )
        return OutgoingMessage(
            envelope_from=settings.sender_address, recipient=to, message_id=message_id, data=data
        )


def composer_for(session: Session, settings: Settings, campaign_id: int) -> Composer:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return SimpleComposer(settings, campaign)
