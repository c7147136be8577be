"""The urgent path for bench/run.py: a bulletin alone, its figures, and a worker SIGKILLed.

Figures come from the ledger: `sent_at` is stamped right after the sink's `250`, so a
bulletin's first and last figures include the CLI's own start (launch → accepted).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from celery import Celery
from sqlalchemy import text

from newsletter.campaigns.preview import composer_for
from newsletter.config import Settings
from newsletter.delivery.lease import RECONCILE_EVERY
from newsletter.mail.outgoing import Recipient
from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import reconcile_and_enqueue

BODY = (
    "Cảnh báo: nước sông dâng cao, người dân khu vực ven sông chú ý di chuyển tài sản lên "
    "cao, không qua lại các ngầm tràn và theo dõi thông báo của chính quyền địa phương.\n"
)


def write_body(path: Path, paragraphs: int = 40) -> Path:
    """A bulletin body of ~`paragraphs` paragraphs (40: messages of ~20 KB with DKIM)."""
    path.write_text((BODY + "\n") * paragraphs, encoding="utf-8")
    return path


def send_bulletin(env: dict[str, str], body: Path) -> tuple[float, float, int]:
    """`newsletter bulletin send` to khan-cap: (launched, returned) epoch seconds and its id."""
    launched = time.time()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "newsletter"), "bulletin", "send",
         "--subject", "Cảnh báo lũ khẩn cấp", "--body-file", str(body),
         "--category", "khan-cap", "--yes"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return launched, time.time(), int(done.stdout.strip().splitlines()[-1])


def sent_times(db_url: str, campaign_id: int) -> list[float]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT extract(epoch FROM sent_at) FROM deliveries"
                     " WHERE campaign_id = :c AND sent_at IS NOT NULL ORDER BY sent_at"),
                {"c": campaign_id},
            )  # fmt: skip
            return [float(r[0]) for r in rows]
    finally:
        engine.dispose()


def figures(db_url: str, campaign_id: int, launched: float, returned: float) -> dict[str, float]:
    """First/last accepted after launch, first after the CLI returned, e2e rate."""
    times = sent_times(db_url, campaign_id)
    return {
        "n": len(times),
        "first": times[0] - launched,
        "first_after_return": times[0] - returned,
        "last": times[-1] - launched,
        "rate": len(times) / (times[-1] - launched),
        "steady_rate": len(times) / max(1e-3, times[-1] - times[0]),
        "cli": returned - launched,
    }


def message_size(runtime: Runtime, settings: Settings, campaign_id: int) -> int:
    """Bytes of one composed message of the campaign (signed as the workers sign)."""
    with runtime.sessions() as session:
        composer = composer_for(session, settings, campaign_id)
    message = composer.compose(
        Recipient(delivery_id=1, subscriber_id=1, email="dan1@example.vn", category_ids=frozenset())
    )
    return len(message.data)


class Reconciler(threading.Thread):
    """Beat's reconciler entry, in-process: reconcile_and_enqueue every RECONCILE_EVERY."""

    def __init__(self, app: Celery, runtime: Runtime) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.runtime = runtime
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(RECONCILE_EVERY.total_seconds()):
            try:
                reconcile_and_enqueue(self.app, self.runtime)
            except Exception as exc:  # beat would log and go on
                print(f"reconcile failed: {exc}", file=sys.stderr)


def _held(db_url: str, campaign_id: int) -> list[int]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [
                int(r[0])
                for r in conn.execute(
                    text("SELECT id FROM deliveries WHERE campaign_id = :c AND status = 'sending'"),
                    {"c": campaign_id},
                )
            ]
    finally:
        engine.dispose()


def _last_sent(db_url: str, ids: list[int]) -> float | None:
    """Epoch of the last of `ids` sent, or None while one of them is not sent yet."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            left, last = conn.execute(
                text("SELECT count(*) FILTER (WHERE status <> 'sent'),"
                     " extract(epoch FROM max(sent_at)) FROM deliveries WHERE id = ANY(:ids)"),
                {"ids": ids},
            ).one()  # fmt: skip
            return None if left else float(last)
    finally:
        engine.dispose()


def kill_and_recover(
    db_url: str,
    env: dict[str, str],
    body: Path,
    sender: subprocess.Popen[bytes],
    restart: object,
    *,
    at_fraction: float = 0.3,
    total: int,
    timeout: float = 300,
) -> dict[str, float]:
    """SIGKILL the sending worker mid-bulletin, start another, time its rows' recovery.

    `restart()` starts the replacement at once (as a service manager would). Returns
    the seconds from the kill to the last of the rows that were `sending` at the kill
    being sent, how many there were, and from the kill to the bulletin's end.
    """
    _, _, campaign_id = send_bulletin(env, body)
    while len(sent_times(db_url, campaign_id)) < total * at_fraction:
        time.sleep(0.1)
    os.killpg(sender.pid, signal.SIGKILL)
    killed = time.time()
    sender.wait()
    held = _held(db_url, campaign_id)
    restart()  # type: ignore[operator]
    deadline = time.monotonic() + timeout
    last = None
    while last is None and time.monotonic() < deadline:
        time.sleep(0.5)
        last = _last_sent(db_url, held) if held else killed
    if last is None:
        raise RuntimeError(f"the killed worker's {len(held)} rows were not sent in {timeout}s")
    while len(sent_times(db_url, campaign_id)) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    end = sent_times(db_url, campaign_id)
    return {
        "held": len(held),
        "recovered_seconds": last - killed,
        "bulletin_done_after_kill": end[-1] - killed,
        "sent": len(end),
        "at": dt.datetime.now(dt.UTC).timestamp(),
    }
