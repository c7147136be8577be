"""Workers die by SIGKILL again and again during a large send: none lost, ≤ 1 duplicate each."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.models import DeliveryStatus
from tests.faults.conftest import Rig, addresses, assert_everyone_once
from tests.faults.services import Sink
from tests.support.ledger import wait_for_ledger, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("db_backend", ["postgresql"])]

# NEWSLETTER_FAULTS_RECIPIENTS shrinks the send while iterating; the suite runs 20,000.
RECIPIENTS = int(os.environ.get("NEWSLETTER_FAULTS_RECIPIENTS", "20000"))
KILLS = 5


@pytest.mark.timeout(900)
def test_five_sigkills_during_a_20000_send(
    make_rig: Callable[..., Rig], sink: Sink, shared_services: dict[str, object], logs: Path
) -> None:
    """Five workers SIGKILLed mid-send, each replaced: all 20,000 mailed, ≤ 5 duplicates."""
    rig = make_rig(sink=sink, send_rate=5000, batch_size=500, **shared_services)
    campaign_id = rig.campaign(RECIPIENTS)
    live = [rig.worker(), rig.worker()]
    killed: list[int] = []
    with rig.reconciler(lease=30, stall=10) as reconciler:
        rig.start(campaign_id)
        for n in range(KILLS):
            target = (n + 1) * RECIPIENTS // (KILLS + 2)
            wait_until(
                lambda t=target: len(sink.received()) >= t,  # type: ignore[misc]
                timeout=300,
                what=f"{target} delivered",
            )
            victim = live.pop(0)
            victim.kill()  # SIGKILL to the worker and its pool child at once
            killed.append(victim.process.pid)
            live.append(rig.worker())
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=600)
    assert counts == {DeliveryStatus.SENT: RECIPIENTS}, f"{counts}; logs in {logs}"
    received = sink.received()
    assert_everyone_once(received, addresses(RECIPIENTS), crashes=KILLS)
    # The dead workers' claimed rows came back through the reconciler (lease, stall).
    assert reconciler.enqueued > 0
    reconciler_log = (logs / "reconciler.log").read_text(encoding="utf-8")
    assert re.search(r"reconcile re-enqueued \d+ batches", reconciler_log)
    assert len(killed) == KILLS
    assert len(list(logs.glob("worker-*.log"))) == 2 + KILLS
