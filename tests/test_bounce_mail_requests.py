"""What the bounce intake does besides reports: unsubscribe by mail, confirmation bounces."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from newsletter.bounces.intake import process_raw
from newsletter.config import Settings
from newsletter.delivery.confirmations import build_confirmation
from newsletter.models import ConsentEvent, ConsentKind, Subscriber, SubscriberStatus
from newsletter.runtime import build_runtime
from newsletter.signing import Purpose, make_resident_token
from newsletter.subscribers.suppression import is_suppressed
from tests.bounce_samples import sample

BOUNCE_DOMAIN = "bounces.example.gov.vn"


def add_subscriber(settings: Settings, email: str, status: SubscriberStatus) -> tuple[int, str]:
    """A stored subscriber's id and link key (what its resident links carry)."""
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as session:
            subscriber = Subscriber(email=email, status=status)
            session.add(subscriber)
            session.flush()
            return subscriber.id, subscriber.link_key
    finally:
        runtime.close()


def unsubscribe_mail(to: str) -> bytes:
    """What a mail client sends to List-Unsubscribe's mailto, as the MTA delivers it."""
    return (
        f"Delivered-To: {to}\r\nFrom: an@example.vn\r\nTo: {to}\r\n"
        "Subject: unsubscribe\r\n\r\nunsubscribe\r\n"
    ).encode("ascii")


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_mail_to_list_unsubscribe_mailto_unsubscribes(
    db_backend: str, database_url: str, settings_factory: Any
) -> None:
    """A mail to unsubscribe+TOKEN@BOUNCE_DOMAIN unsubscribes that subscriber, consent recorded."""
    settings = settings_factory(database_url=database_url, bounce_domain=BOUNCE_DOMAIN)
    kept, _ = add_subscriber(settings, "binh@example.vn", SubscriberStatus.ACTIVE)
    leaving, key = add_subscriber(settings, "an@example.vn", SubscriberStatus.ACTIVE)
    token = make_resident_token(settings, Purpose.UNSUBSCRIBE, leaving, key)
    runtime = build_runtime(settings)
    try:
        forged = process_raw(runtime, unsubscribe_mail(f"unsubscribe+{token}x@{BOUNCE_DOMAIN}"))
        outcome = process_raw(runtime, unsubscribe_mail(f"unsubscribe+{token}@{BOUNCE_DOMAIN}"))
        with runtime.sessions() as session:
            statuses = dict(session.execute(select(Subscriber.id, Subscriber.status)).all())
            events = session.scalars(
                select(ConsentEvent).where(ConsentEvent.subscriber_id == leaving)
            ).all()
    finally:
        runtime.close()
    assert forged.action == "ignored", "a token that does not verify unsubscribes no one"
    assert (outcome.action, outcome.subscriber_id) == ("unsubscribed", leaving)
    assert statuses == {kept: SubscriberStatus.ACTIVE, leaving: SubscriberStatus.UNSUBSCRIBED}
    assert [e.kind for e in events] == [ConsentKind.UNSUBSCRIBED]
    assert "list-unsubscribe-mailto" in (events[0].detail or "")


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_bounced_confirmation_condemns_the_address(
    db_backend: str, database_url: str, settings_factory: Any
) -> None:
    """A hard bounce to a confirmation's VERP address marks that pending address bounced."""
    settings = settings_factory(database_url=database_url, bounce_domain=BOUNCE_DOMAIN)
    typo, _ = add_subscriber(settings, "an@gmial.com", SubscriberStatus.PENDING)
    mail = build_confirmation(
        settings, subscriber_id=typo, confirm_key="c" * 32, email="an@gmial.com"
    )
    runtime = build_runtime(settings)
    try:
        outcome = process_raw(runtime, sample("postfix_hard", settings, verp=mail.sender))
        with runtime.sessions() as session:
            status = session.get(Subscriber, typo).status  # type: ignore[union-attr]
            suppressed = is_suppressed(session, email="an@gmial.com")
    finally:
        runtime.close()
    assert (outcome.action, outcome.subscriber_id) == ("suppressed", typo)
    assert status is SubscriberStatus.BOUNCED
    assert suppressed
