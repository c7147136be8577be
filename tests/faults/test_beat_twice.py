"""Two beats run at once, both firing the weekly digest: one digest per period, sent once."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.models import Article, Campaign, CampaignKind, CampaignStatus, DeliveryStatus
from tests.faults.conftest import Rig, addresses, assert_everyone_once
from tests.faults.services import ROOT, Process, Sink
from tests.support.ledger import add_subscribers, wait_for_ledger, wait_until, worker_env

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("db_backend", ["postgresql"])]

DUE = re.compile(r"Sending due task weekly-digest")
DIGEST_RAN = re.compile(
    r"Task newsletter.build_and_start_digest\[[^\]]+\] succeeded in [\d.]+s: (\w+)"
)


def start_beat(rig: Rig, name: str) -> Process:
    """A real `newsletter beat` firing the digest every minute, with its own schedule file."""
    var_dir = rig.logs.parent / f"var-{name}"
    env = worker_env(rig.settings)
    env.update({"NEWSLETTER_DIGEST_SCHEDULE": "* * * * *", "NEWSLETTER_VAR_DIR": str(var_dir)})
    return Process(
        [sys.executable, "-m", "newsletter", "beat"], rig.logs / f"{name}.log", env=env, cwd=ROOT
    )


def test_two_beats_make_one_digest_and_send_it_once(
    make_rig: Callable[..., Rig], sink: Sink, shared_services: dict[str, object], logs: Path
) -> None:
    """Both beats fire the weekly digest in the same minute: one campaign, one mail each."""
    count = 200
    rig = make_rig(sink=sink, send_rate=500, batch_size=50, **shared_services)
    now = dt.datetime.now(dt.UTC)
    with rig.runtime.sessions.begin() as s:
        add_subscribers(s, count)
        s.add_all(
            Article(
                guid=f"urn:faults:{n}",
                url=f"https://example.gov.vn/tin/{n}.html",
                title=f"Bài số {n}: Thành phố triển khai phòng chống bão",
                summary="<p>Ủy ban nhân dân thành phố thông báo lịch cắt điện.</p>",
                published_at=now - dt.timedelta(hours=n + 1),
            )
            for n in range(3)
        )
    # Two pool processes, so the two beats' digest tasks really run at the same time.
    rig.worker(concurrency=2)
    beats = [start_beat(rig, "beat-a"), start_beat(rig, "beat-b")]
    try:
        wait_until(
            lambda: all(DUE.search((logs / f"{b}.log").read_text()) for b in ("beat-a", "beat-b")),
            timeout=150,
            what="both beats to fire the digest",
        )
        with rig.runtime.sessions() as s:
            wait_until(
                lambda: (
                    s.scalar(select(Campaign.id).where(Campaign.kind == CampaignKind.DIGEST))
                    is not None
                ),
                timeout=60,
                what="the digest campaign",
            )
            digests = s.execute(
                select(Campaign.id, Campaign.period).where(Campaign.kind == CampaignKind.DIGEST)
            ).all()
        [(campaign_id, period)] = digests
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=120)
    finally:
        for beat in beats:
            beat.stop()
    assert period
    assert counts == {DeliveryStatus.SENT: count}, f"{counts}; logs in {logs}"
    with rig.runtime.sessions() as s:
        status = s.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    assert status is CampaignStatus.SENT
    assert_everyone_once(sink.received(), addresses(count))
    worker_log = rig.worker_logs()
    ran = re.findall(DIGEST_RAN, worker_log)
    assert len(ran) >= 2, f"each beat's digest task ran; logs in {logs}"
    assert ran.count(str(campaign_id)) == 1  # one of them started it, the others found it
