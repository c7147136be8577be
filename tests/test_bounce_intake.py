"""`newsletter bounces process` over a Maildir: every message applied, none lost."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.db import create_db_engine
from newsletter.models import (
    Campaign,
    CampaignKind,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.subscribers.suppression import is_suppressed
from tests.bounce_samples import sample
from tests.conftest import TEST_SECRET
from tests.support.keys import keyed_sessions


def test_cli_processes_a_maildir(
    database_url: str, tmp_path: Path, settings_factory: type[Settings]
) -> None:
    """Hard bounces suppress, a non-bounce is ignored, processed mail moves out of new/."""
    settings = settings_factory(database_url=database_url, bounce_domain="bounce.example.gov.vn")
    engine = create_db_engine(database_url)
    sessions = keyed_sessions(engine)
    with sessions.begin() as session:
        campaign = Campaign(kind=CampaignKind.BULLETIN, subject="Thông báo")
        people = [
            Subscriber(email=e, status=SubscriberStatus.ACTIVE)
            for e in ("a@gmail.com", "b@outlook.com")
        ]
        session.add_all([campaign, *people])
        session.flush()
        deliveries = [
            Delivery(campaign_id=campaign.id, subscriber_id=p.id, status=DeliveryStatus.SENT)
            for p in people
        ]
        session.add_all(deliveries)
        session.flush()
        ids = [d.id for d in deliveries]
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(sample("gmail_hard", settings, delivery_id=ids[0]))
    box.add(sample("outlook_hard", settings, delivery_id=ids[1]))
    box.add(b"this is not an e-mail at all\r\n")
    box.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=TEST_SECRET,
        NEWSLETTER_BOUNCE_DOMAIN="bounce.example.gov.vn",
    )
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "bounces", "process", str(tmp_path / "bounces"),
         "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"processed": 3' in result.stdout
    assert '"suppressed": 2' in result.stdout
    assert '"ignored": 1' in result.stdout
    with sessions.begin() as session:
        assert is_suppressed(session, "a@gmail.com")
        assert is_suppressed(session, "b@outlook.com")
        statuses = session.scalars(select(Delivery.status).order_by(Delivery.id)).all()
        assert statuses == [DeliveryStatus.BOUNCED, DeliveryStatus.BOUNCED]
        assert session.scalars(select(Campaign.bounced_count)).one() == 2
    engine.dispose()
    reopened = mailbox.Maildir(str(tmp_path / "bounces"), create=False)
    assert len(reopened) == 0
    assert len(reopened.get_folder("processed")) == 3
