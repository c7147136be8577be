"""PostgreSQL crashes mid-send and restarts: workers reconnect, the reconciler finishes the send.

The machine's shared PostgreSQL is never restarted: the test runs its own throwaway
cluster (initdb into a temp dir, as the postgres user) and stops it with `-m immediate`,
which cuts every connection without a clean shutdown, as a crash would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsletter import migrate
from newsletter.models import DeliveryStatus
from tests.faults.conftest import Rig, addresses, assert_everyone_once
from tests.faults.services import PG_BIN, PostgresCluster, Sink
from tests.support.ledger import wait_for_ledger, wait_until
from tests.support.requirements import require

pytestmark = pytest.mark.faults

WORKERS = 2


@pytest.fixture
def cluster(logs: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this test's own, migrated."""
    require(
        (PG_BIN / "initdb").exists(),
        f"no initdb in {PG_BIN}: install PostgreSQL's server (apt-get install postgresql)",
    )
    server = PostgresCluster(logs)
    try:
        server.start()
        migrate.upgrade(server.url)
        yield server
    finally:
        server.destroy()


def test_postgresql_crash_mid_send(
    make_rig: Callable[..., Rig],
    sink: Sink,
    cluster: PostgresCluster,
    redis_url: str,
    redis_prefix: str,
    logs: Path,
) -> None:
    """The database stops without warning mid-send and comes back: everyone is mailed, with
    at most one duplicate per worker (the message each had in flight)."""
    count = 2000
    rig = make_rig(
        sink=sink,
        database_url=cluster.url,
        broker_url=redis_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        send_rate=1000,
        batch_size=100,
    )
    campaign_id = rig.campaign(count)
    for _ in range(WORKERS):
        rig.worker()
    with rig.reconciler(lease=30, stall=10) as reconciler:
        rig.start(campaign_id)
        wait_until(lambda: len(sink.received()) >= 400, timeout=120, what="400 delivered")
        cluster.crash()
        time.sleep(3)
        cluster.start()
        counts = wait_for_ledger(rig.runtime, campaign_id, timeout=300)
    assert counts == {DeliveryStatus.SENT: count}, f"{counts}; logs in {logs}"
    assert_everyone_once(sink.received(), addresses(count), crashes=WORKERS)
    assert reconciler.enqueued > 0
    worker_log = rig.worker_logs()
    assert "OperationalError" in worker_log  # the batches in hand saw the database go
    assert "reconcile failed: OperationalError" in (logs / "reconciler.log").read_text(
        encoding="utf-8"
    )
