"""Two mails a resident asks for from the site, built and sent like the confirmation.

- the "Quản lý đăng ký" mail: a link to the subscriber's preferences page, to the
  subscription's address (GET|POST /manage);
- the confirmation of a new address, to that NEW address only (the preferences page).

`send_manage_link` and `send_address_confirmation` are the plain functions the urgent-
queue tasks wrap (tasks/jobs.py). Like `send_confirmation` they read the row at send
time, so an erasure, an unsubscribe-and-suppression or a newer request in between wins,
and neither ever puts the subscriber's name in a mail. Both are DKIM-signed and leave
from a VERP Return-Path (mail/transactional.py).
"""

from __future__ import annotations

import datetime as dt
import logging

from newsletter.config import Settings
from newsletter.delivery.confirmations import ConfirmationMail
from newsletter.delivery.transport import DeliveryError, RetryLaterError, Transport, open_transport
from newsletter.mail.links import confirmation_verp_id, preferences_url
from newsletter.mail.transactional import build_single
from newsletter.models import Subscriber
from newsletter.runtime import Runtime
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.change_address import pending_change
from newsletter.subscribers.manage import may_mail_manage_link

log = logging.getLogger(__name__)

# The VERP id of an address-change confirmation: no delivery and no subscriber has id 0,
# so a bounce of a mistyped new address is ignored instead of being held against the
# subscriber's current, working address.
ADDRESS_CHANGE_VERP_ID = 0


def change_address_url(settings: Settings, subscriber_id: int, key: str) -> str:
    """Opens the page confirming a new address (GET shows a button, POST acts); expires."""
    token = make_resident_token(settings, Purpose.CHANGE_ADDRESS, subscriber_id, key)
    return settings.public_link(f"/change-address/{token}")


def _days(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def build_manage_mail(
    settings: Settings, *, subscriber_id: int, link_key: str, email: str
) -> ConfirmationMail:
    """The mail carrying the preferences link of the subscriber, to its address."""
    context = {
        "preferences_url": preferences_url(settings, subscriber_id, link_key),
        "links": None,
        "footer_note": (
            "Bạn nhận được thư này vì ai đó đã nhập địa chỉ e-mail này trên trang "
            f"Quản lý đăng ký của {settings.org_name}."
        ),
        "preheader": f"Liên kết để quản lý đăng ký nhận bản tin của {settings.org_name}.",
    }
    message = build_single(
        settings,
        template="manage",
        context=context,
        email=email,
        verp_id=confirmation_verp_id(subscriber_id),
        feedback_kind="manage",
    )
    return ConfirmationMail(message.envelope_from, message.recipient, message.data)


def build_address_confirmation(
    settings: Settings,
    *,
    subscriber_id: int,
    key: str,
    email: str,
    now: dt.datetime | None = None,
) -> ConfirmationMail:
    """The mail to a new address with the link that moves the subscription to it."""
    now = now or dt.datetime.now(dt.UTC)
    context = {
        "confirm_url": change_address_url(settings, subscriber_id, key),
        "valid_days": _days(settings.confirm_token_days),
        "valid_until": now + dt.timedelta(days=settings.confirm_token_days),
        "links": None,
        "footer_note": (
            "Bạn nhận được thư này vì địa chỉ e-mail này vừa được nhập làm địa chỉ mới "
            f"của một đăng ký nhận bản tin của {settings.org_name}."
        ),
        "preheader": "Bấm một lần để nhận bản tin tại địa chỉ e-mail này.",
    }
    message = build_single(
        settings,
        template="change_address",
        context=context,
        email=email,
        verp_id=ADDRESS_CHANGE_VERP_ID,
        feedback_kind="change-address",
    )
    return ConfirmationMail(message.envelope_from, message.recipient, message.data)


def _send(mail: ConfirmationMail, smtp_url: str, transport: Transport | None, what: str) -> bool:
    try:
        if transport is not None:
            transport.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
        else:
            own = open_transport(smtp_url)
            try:
                own.send(sender=mail.sender, recipient=mail.recipient, message=mail.message)
            finally:
                own.close()
    except DeliveryError as exc:
        if exc.permanent:
            log.warning("%s refused: %s", what, exc)
            return False
        raise RetryLaterError(f"{what}: {exc}") from exc
    return True


def send_manage_link(
    runtime: Runtime, *, subscriber_id: int, transport: Transport | None = None
) -> bool:
    """Mail the subscriber its preferences link; False when it may not be mailed (any more)."""
    with runtime.sessions() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None or not may_mail_manage_link(session, subscriber):
            return False
        mail = build_manage_mail(
            runtime.settings,
            subscriber_id=subscriber_id,
            link_key=subscriber.link_key,
            email=subscriber.email,
        )
    what = f"manage link to subscriber {subscriber_id}"
    return _send(mail, runtime.settings.smtp_url, transport, what)


def send_address_confirmation(
    runtime: Runtime, *, subscriber_id: int, transport: Transport | None = None
) -> bool:
    """Mail the newest pending address of the subscriber its confirmation link."""
    with runtime.sessions() as session:
        waiting = pending_change(session, subscriber_id=subscriber_id)
    if waiting is None:
        return False
    email, key = waiting
    mail = build_address_confirmation(
        runtime.settings, subscriber_id=subscriber_id, key=key, email=email
    )
    what = f"new-address confirmation of subscriber {subscriber_id}"
    return _send(mail, runtime.settings.smtp_url, transport, what)
