"""One-off mail to one resident (the confirmation): the bulk mail's look, headers and DKIM.

Rendered by the same templates and renderer as a campaign (CSS inlined, one layout and
footer), built by `mime.build_message`, signed by the same signer, and sent from a VERP
Return-Path when BOUNCE_DOMAIN is set, so a bounce from a mistyped address is processed
like any other.
"""

from __future__ import annotations

import time
from typing import Any

from newsletter.config import Settings
from newsletter.idn import ascii_address
from newsletter.mail.dkim import DkimSigner, signer_from_settings
from newsletter.mail.links import LinkMinter
from newsletter.mail.mime import build_message, format_address, make_message_id
from newsletter.mail.outgoing import OutgoingMessage
from newsletter.mail.render import MailRenderer


def build_single(
    settings: Settings,
    *,
    template: str,
    context: dict[str, Any],
    email: str,
    verp_id: int,
    feedback_kind: str,
    signer: DkimSigner | None = None,
) -> OutgoingMessage:
    """The message `templates/email/<template>.*` renders for `email`, signed when DKIM is set.

    `verp_id` is what the VERP token names (links.confirmation_verp_id for a confirmation).
    """
    mail = MailRenderer(settings).render(template, {"archive_url": None, **context})
    recipient = ascii_address(email)
    message_id = make_message_id(settings.sending_domain)
    data = build_message(
        from_header=format_address(settings.sender_address, settings.sender_name),
        to=recipient,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        message_id=message_id,
        headers=[
            ("Feedback-ID", f"{feedback_kind}:{feedback_kind}:{settings.sending_domain}"),
            # Sent by the service on a request: auto-responders must not answer it.
            ("Auto-Submitted", "auto-generated"),
        ],
        body_encoding="quoted-printable",
    )
    signer = signer or signer_from_settings(settings)
    if signer is not None:
        data = signer.sign_message(data, timestamp=int(time.time()))
    return OutgoingMessage(
        envelope_from=LinkMinter(settings).return_path(verp_id),
        recipient=recipient,
        message_id=message_id,
        data=data,
    )
