"""A transport that can take no message at all does not use up the rows' attempts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.delivery import ledger as delivery
from newsletter.delivery.batch import send_batch
from newsletter.delivery.budget import open_budget
from newsletter.delivery.transport import RetryLaterError
from newsletter.models import Delivery, DeliveryStatus
from newsletter.runtime import build_runtime
from tests.faults.services import free_port
from tests.support.ledger import add_campaign, add_subscribers, ledger
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"])


@pytest.mark.parametrize("transport", ["smtp", "maildir"])
def test_unreachable_relay_or_unwritable_outbox_keeps_every_attempt(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path, transport: str
) -> None:
    """Retries against a relay that refuses connections (or an outbox that cannot be
    written) leave every row queued with no attempt used, however many times they run."""
    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the Maildir should be")  # every write fails
    smtp_url = f"smtp://127.0.0.1:{free_port()}" if transport == "smtp" else f"maildir:{blocked}"
    settings = settings_factory(database_url=database_url, smtp_url=smtp_url, send_rate=1000)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            add_subscribers(s, 3)
            campaign_id = add_campaign(s)
            work = start_campaign(s, campaign_id=campaign_id)
        [(first_id, last_id)] = work.ranges
        budget = open_budget(settings)
        for _ in range(delivery.MAX_ATTEMPTS + 2):
            with pytest.raises(RetryLaterError):
                send_batch(
                    runtime,
                    budget,
                    composer_for=composer_for,
                    campaign_id=campaign_id,
                    first_id=first_id,
                    last_id=last_id,
                )
        with runtime.sessions() as s:
            rows = s.execute(
                select(Delivery.status, Delivery.attempts, Delivery.last_error).where(
                    Delivery.campaign_id == campaign_id
                )
            ).all()
    finally:
        runtime.close()
    assert {(status, attempts) for status, attempts, _ in rows} == {(DeliveryStatus.QUEUED, 0)}
    errors = [error for _, _, error in rows if error]
    assert errors
    assert all(("cannot connect" in e) or ("cannot write" in e) for e in errors)


def test_budget_redis_down_gives_the_claimed_rows_back(
    database_url: str, settings_factory: Callable[..., Settings], smtp_server: SMTPServer
) -> None:
    """A batch whose send budget (Redis) cannot be reached fails with its chunk back in
    `queued`, not stuck in `sending` until the lease runs out."""
    settings = settings_factory(
        database_url=database_url,
        smtp_url=smtp_server.url,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            add_subscribers(s, 3)
            campaign_id = add_campaign(s)
            [(first_id, last_id)] = start_campaign(s, campaign_id=campaign_id).ranges
        with pytest.raises(redis.ConnectionError):
            send_batch(
                runtime,
                open_budget(settings),
                composer_for=composer_for,
                campaign_id=campaign_id,
                first_id=first_id,
                last_id=last_id,
            )
        with runtime.sessions() as s:
            assert ledger(s, campaign_id) == {DeliveryStatus.QUEUED: 3}
    finally:
        runtime.close()
    assert smtp_server.received == []
