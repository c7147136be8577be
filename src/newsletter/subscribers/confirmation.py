"""The Vietnamese confirmation mail of the double opt-in: built, then sent.

`send_confirmation` is a plain function wrapped by the urgent-queue tasks
(tasks.send_confirmation, tasks.send_confirmations); the subscribe form
(confirmation_queue) and the imports (`dispatch.queue_confirmations`) enqueue them once
their transaction has committed. The subscriber's name is never used here: a stranger
can type any name next to a victim's address, and it must not reach the victim's
mailbox, let alone a header or a link.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment

from newsletter.config import Settings
from newsletter.delivery.transport import Transport, open_transport
from newsletter.idn import ascii_address
from newsletter.mail.environment import create_environment
from newsletter.mail.links import confirm_url
from newsletter.mail.mime import build_message, format_address, make_message_id


@dataclass(frozen=True)
class ConfirmationMail:
    sender: str  # envelope sender
    recipient: str  # ASCII form of the address (A-label domain)
    message: bytes


def _days(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def build_confirmation(
    settings: Settings,
    *,
    subscriber_id: int,
    email: str,
    env: Environment | None = None,
) -> ConfirmationMail:
    """The confirmation message for `email` (its stored, normalized form)."""
    env = env or create_environment(settings)
    context = {
        "confirm_url": confirm_url(settings, subscriber_id),
        "valid_days": _days(settings.confirm_token_days),
    }
    subject = env.get_template("email/confirmation.subject.txt").render(context).strip()
    text = env.get_template("email/confirmation.txt").render(context) + "\n"
    html = env.get_template("email/confirmation.html").render(context)
    recipient = ascii_address(email)
    message = build_message(
        from_header=format_address(settings.sender_address, settings.sender_name),
        to=recipient,
        subject=subject,
        text=text,
        html=html,
        message_id=make_message_id(settings.sending_domain),
        headers=[("Auto-Submitted", "auto-generated")],
    )
    return ConfirmationMail(sender=settings.sender_address, recipient=recipient, message=message)


def send_confirmation(
    settings: Settings, *, subscriber_id: int, email: str, transport: Transport | None = None
) -> None:
    """Build and send one confirmation through NEWSLETTER_SMTP_URL; DeliveryError on refusal.

    With `transport` (a worker's, kept open between confirmations) the mail reuses its
    connection instead of paying a connect, EHLO and QUIT of its own.
    """
    mail = build_confirmation(settings, subscriber_id=subscriber_id, email=email)
    if transport is not None:
        transport.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
        return
    own = open_transport(settings.smtp_url)
    try:
        own.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
    finally:
        own.close()
