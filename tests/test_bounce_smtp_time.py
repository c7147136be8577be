"""Refusals met while sending (a real SMTP server): only a refused recipient counts against
its address, and only as its reply says."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.delivery.batch import send_batch
from newsletter.delivery.budget import open_budget
from newsletter.models import DeliveryStatus, Subscriber, SubscriberStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.subscribers.suppression import is_suppressed
from tests.support.ledger import add_campaign, add_subscribers, ledger
from tests.support.smtp import SMTPServer


@pytest.fixture
def runtime(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> Iterator[Runtime]:
    rt = build_runtime(
        settings_factory(database_url=database_url, smtp_url=smtp_server.url, send_rate=1000)
    )
    yield rt
    rt.close()


def send_campaign(runtime: Runtime, count: int) -> tuple[int, list[int]]:
    with runtime.sessions.begin() as s:
        ids = add_subscribers(s, count)
        campaign_id = add_campaign(s)
    with runtime.sessions.begin() as s:
        work = start_campaign(s, campaign_id=campaign_id)
    budget = open_budget(runtime.settings)
    for first, last in work.ranges:
        send_batch(
            runtime, budget, composer_for=composer_for, campaign_id=campaign_id,
            first_id=first, last_id=last,
        )  # fmt: skip
    return campaign_id, ids


def test_relay_and_policy_refusals_touch_no_subscriber(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """A relay answering "relaying denied" or "relay not permitted" at RCPT, a blocklisted IP,
    and a refusal of the data fail the rows and suppress or score nobody."""
    smtp_server.refuse("dan00000@example.vn", "550 5.7.1 <dan00000@example.vn>: Relaying denied")
    smtp_server.refuse("dan00001@example.vn", "550 relay not permitted")
    smtp_server.refuse("dan00002@example.vn", "554 5.7.1 IP address blacklisted")
    smtp_server.refuse_data("dan00003@example.vn", "554 5.6.0 Message content rejected")
    campaign_id, ids = send_campaign(runtime, 4)
    with runtime.sessions() as s:
        assert ledger(s, campaign_id) == {DeliveryStatus.FAILED: 4}
        for subscriber_id in ids:
            subscriber = s.get(Subscriber, subscriber_id)
            assert subscriber is not None
            assert subscriber.status is SubscriberStatus.ACTIVE
            assert subscriber.bounce_score == 0.0
            assert not is_suppressed(s, subscriber.email)


def test_full_mailbox_at_rcpt_scores_and_missing_mailbox_suppresses(
    runtime: Runtime, smtp_server: SMTPServer
) -> None:
    """ "552 5.2.2 mailbox full" and "550 Ip frequency limited" only add to the score; "550 5.1.1"
    suppresses the address."""
    smtp_server.refuse("dan00000@example.vn", "552 5.2.2 Mailbox full")
    smtp_server.refuse("dan00001@example.vn", "550 Ip frequency limited")
    smtp_server.refuse("dan00002@example.vn", "550 5.1.1 No such user")
    campaign_id, ids = send_campaign(runtime, 3)
    with runtime.sessions() as s:
        full, limited, missing = (s.get(Subscriber, i) for i in ids)
        assert full is not None
        assert limited is not None
        assert missing is not None
        for soft in (full, limited):
            assert soft.status is SubscriberStatus.ACTIVE
            assert soft.bounce_score == 1.0
            assert not is_suppressed(s, soft.email)
        assert missing.status is SubscriberStatus.BOUNCED
        assert is_suppressed(s, missing.email)
        assert ledger(s, campaign_id) == {DeliveryStatus.FAILED: 2, DeliveryStatus.BOUNCED: 1}
