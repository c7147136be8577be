"""Campaign control on both databases: only actions that do something, a no-op changes
nothing, and the rate is the rate messages actually went out at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from newsletter.accounts.api_tokens import create_api_token
from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.audience import start_campaign
from newsletter.cli import app
from newsletter.config import Settings
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, utcnow
from newsletter.runtime import build_runtime
from newsletter.web import create_app
from tests.support.ledger import add_campaign, add_subscribers, ledger, worker_env
from tests.support.webserver import serve


def sent_campaign(
    session: Session, count: int, *, over: dt.timedelta, end: dt.datetime, failed: int = 0
) -> int:
    """A campaign of `count` rows, all sent evenly over `over` up to `end` but the last
    `failed`, which failed; status `sent`."""
    add_subscribers(session, count)
    campaign_id = add_campaign(session)
    start_campaign(session, campaign_id=campaign_id)
    ids = session.scalars(
        select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
    ).all()
    step = over / max(count - failed - 1, 1)
    for i, delivery_id in enumerate(ids):
        if i >= count - failed:
            values = {"status": DeliveryStatus.FAILED, "last_error": "554 5.7.1 refused"}
        else:
            values = {"status": DeliveryStatus.SENT, "sent_at": end - over + i * step}
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    campaign.status, campaign.finished_at = CampaignStatus.SENT, end
    session.flush()
    return campaign_id


def test_retry_failed_with_nothing_failed_changes_nothing(session: Session) -> None:
    """Retry-failed on a sent campaign with no failure refuses and leaves it sent, so a
    pause after it cannot leave a finished campaign "paused" at 100%."""
    now = utcnow()
    campaign_id = sent_campaign(session, 5, over=dt.timedelta(seconds=2), end=now)
    with pytest.raises(campaign_control.CampaignStateError, match="no failed message"):
        campaign_control.retry_failed(session, campaign_id=campaign_id)
    with pytest.raises(campaign_control.CampaignStateError, match="not sending"):
        campaign_control.pause(session, campaign_id=campaign_id)
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    assert (campaign.status, campaign.finished_at) == (CampaignStatus.SENT, now)
    assert ledger(session, campaign_id) == {DeliveryStatus.SENT: 5}


def test_retry_failed_reopens_a_sent_campaign_with_failures(session: Session) -> None:
    """With failed rows, retry-failed queues them again and the campaign sends again."""
    campaign_id = sent_campaign(session, 5, over=dt.timedelta(seconds=2), end=utcnow(), failed=2)
    work = campaign_control.retry_failed(session, campaign_id=campaign_id)
    assert work.ranges
    assert ledger(session, campaign_id) == {DeliveryStatus.SENT: 3, DeliveryStatus.QUEUED: 2}
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    assert (campaign.status, campaign.finished_at) == (CampaignStatus.SENDING, None)


@pytest.mark.parametrize(
    ("status", "retryable", "actions"),
    [
        ("draft", 0, ["cancel"]),
        ("sending", 0, ["pause", "cancel"]),
        ("sending", 3, ["pause", "cancel", "retry-failed"]),
        ("paused", 0, ["resume", "cancel"]),
        ("paused", 1, ["resume", "cancel", "retry-failed"]),
        ("sent", 0, []),
        ("sent", 2, ["retry-failed"]),
        ("cancelled", 4, []),
    ],
)
def test_only_actions_that_do_something_are_offered(
    status: str, retryable: int, actions: list[str]
) -> None:
    """Each state offers exactly the actions its checks would accept and act on."""
    assert campaign_control.allowed_actions(status, retryable=retryable) == actions


def test_progress_offers_the_actions_of_the_campaign(session: Session) -> None:
    """A sent campaign offers nothing until a row has failed, then only retry-failed."""
    campaign_id = sent_campaign(session, 3, over=dt.timedelta(seconds=1), end=utcnow())
    assert campaign_control.progress(session, campaign_id=campaign_id).actions == ()
    session.execute(
        update(Delivery)
        .where(Delivery.id == select(Delivery.id).limit(1).scalar_subquery())
        .values(status=DeliveryStatus.FAILED)
    )
    found = campaign_control.progress(session, campaign_id=campaign_id)
    assert (found.actions, found.retryable) == (("retry-failed",), 1)


def test_rate_of_a_finished_burst_is_its_own_speed(session: Session) -> None:
    """301 messages sent over 6 s read 50 msg/s (not 301 per minute), and a finished
    campaign has no time left to tell."""
    now = utcnow()
    end = now - dt.timedelta(seconds=20)
    campaign_id = sent_campaign(session, 301, over=dt.timedelta(seconds=6), end=end)
    found = campaign_control.progress(session, campaign_id=campaign_id, now=now)
    assert (found.sent, found.rate, found.seconds_left) == (301, 50.0, None)


def test_rate_while_sending_counts_only_the_time_since_sending_began(session: Session) -> None:
    """Sending for 6 s at 50/s reads 50 msg/s with the time left at that rate, even though
    the one-minute window is mostly empty."""
    now = utcnow()
    campaign_id = sent_campaign(session, 400, over=dt.timedelta(seconds=6), end=now, failed=99)
    session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.FAILED)
        .values(status=DeliveryStatus.QUEUED)
    )
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    campaign.status, campaign.finished_at = CampaignStatus.SENDING, None
    session.flush()
    # 301 rows went out from now - 6 s to now: measured at now + 0.02 s, about 50 per second.
    found = campaign_control.progress(
        session, campaign_id=campaign_id, now=now + dt.timedelta(milliseconds=20)
    )
    assert found.rate == pytest.approx(50.0, abs=0.5)
    assert found.seconds_left == 2  # 99 waiting at 50/s


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_api_refuses_a_retry_with_nothing_failed(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """`POST /api/v1/campaigns/{id}/retry-failed` with no failure answers 409 with the
    reason, and its progress lists no action."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            campaign_id = sent_campaign(s, 3, over=dt.timedelta(seconds=1), end=utcnow())
            token = create_api_token(s, name="cms")
        auth = {"Authorization": f"Bearer {token}"}
        with serve(create_app(settings, runtime)) as client:
            retried = client.post(f"/api/v1/campaigns/{campaign_id}/retry-failed", headers=auth)
            shown = client.get(f"/api/v1/campaigns/{campaign_id}", headers=auth).json()
        assert retried.status_code == 409
        assert "no failed message to retry" in retried.json()["detail"]
        assert (shown["status"], shown["actions"], shown["seconds_left"]) == ("sent", [], None)
    finally:
        runtime.close()


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_cli_says_retry_failed_had_nothing_to_do(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    """`campaigns retry-failed` on a campaign with no failure says so and changes nothing;
    `campaigns show` prints no "time left" for a finished campaign."""
    settings = settings_factory(database_url=database_url)
    runtime = build_runtime(settings)
    try:
        with runtime.sessions.begin() as s:
            campaign_id = sent_campaign(s, 3, over=dt.timedelta(seconds=1), end=utcnow())
        runner = CliRunner()
        env = worker_env(settings)
        retried = runner.invoke(app, ["campaigns", "retry-failed", str(campaign_id)], env=env)
        assert retried.exit_code == 1
        assert "no failed message to retry; nothing changed" in retried.stderr
        shown = runner.invoke(app, ["campaigns", "show", str(campaign_id)], env=env)
        assert shown.exit_code == 0
        assert "sent: sent 3" in shown.stdout
        assert "time left" not in shown.stdout
        with runtime.sessions() as s:
            campaign = s.get(Campaign, campaign_id)
            assert campaign is not None
            assert campaign.status is CampaignStatus.SENT
    finally:
        runtime.close()
