"""The broker's Redis dies mid-send and comes back empty: the reconciler finishes the send."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsletter.models import DeliveryStatus
from tests.faults.conftest import Rig, addresses, assert_everyone_once
from tests.faults.services import RedisServer, Sink
from tests.support.ledger import wait_for_ledger, wait_until
from tests.support.requirements import require

pytestmark = [pytest.mark.faults, pytest.mark.parametrize("db_backend", ["postgresql"])]


@pytest.fixture
def private_redis(logs: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own: the machine's shared Redis is never restarted."""
    require(
        shutil.which("redis-server") is not None,
        "redis-server is missing: apt-get install redis-server",
    )
    server = RedisServer(logs)
    server.start()
    yield server
    server.kill()


def test_redis_restarted_empty_mid_send(
    make_rig: Callable[..., Rig],
    sink: Sink,
    database_url: str,
    private_redis: RedisServer,
    logs: Path,
) -> None:
    """Redis (broker and send budget) killed and restarted without its data: all mailed once."""
    count = 2000
    rig = make_rig(
        sink=sink,
        database_url=database_url,
        broker_url=private_redis.url,
        redis_url=private_redis.url,
        send_rate=1000,
        batch_size=100,
    )
    campaign_id = rig.campaign(count)
    rig.worker()
    rig.worker()
    with rig.reconciler(lease=30, stall=10) as reconciler:
        rig.start(campaign_id)
        wait_until(lambda: len(sink.received()) >= 400, timeout=120, what="400 delivered")
        private_redis.kill()  # every queued and unacked task is gone with it
        time.sleep(3)
        private_redis.start()
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=300)
    assert counts == {DeliveryStatus.SENT: count}, f"{counts}; logs in {logs}"
    # No worker crashed: the batch in hand stops at its next budget token, before sending.
    assert_everyone_once(sink.received(), addresses(count), crashes=0)
    assert reconciler.enqueued > 0  # the lost tasks were rebuilt from the ledger
    worker_log = rig.worker_logs()
    assert "Connection to broker lost" in worker_log
    assert "reconcile re-enqueued" in (logs / "reconciler.log").read_text(encoding="utf-8")
