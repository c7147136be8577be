"""An urgent bulletin's first message, while a digest is being sent: where the 2 s go.

Run:  .venv/bin/python bench/bench_bulletin.py [--n 1000000] [--runs 3] [--src DIR]
      [--db-url URL (a database bench/run.py's seed() filled; kept)]

Real processes: `newsletter worker --queues bulk` sends a 100,000-reader digest (started
again whenever it ends), `newsletter worker --queues urgent,default` is started afresh
for every run (its first bulletin, the cold case), Postfix's smtp-sink accepts the mail.
Each run measures, for the 10,000 `khan-cap` readers:

- cli:    launching `newsletter bulletin send --category khan-cap --yes` → first message
          accepted (the benchmark target, ≤ 2 s), and when the command returned;
- cold:   the bulletin's tasks published (in this process) → first message accepted, on
          a worker that has sent no bulletin yet;
- warm:   the same on the worker that just sent one.

"Accepted" is the row's sent_at, written right after the server's 250. Each bulletin is
cancelled once its first message is out, so the runs do not wait for 10,000 messages.
`--src` runs the CLI and the workers from another checkout's src/ (PYTHONPATH): the
"before" column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import services
from run import seed

from newsletter import migrate
from newsletter.campaigns.audience import start_campaign
from newsletter.campaigns.build import create_bulletin
from newsletter.campaigns.control import cancel
from newsletter.config import Settings
from newsletter.models import Campaign, CampaignStatus
from newsletter.runtime import Runtime, build_runtime
from newsletter.tasks.app import create_producer
from newsletter.tasks.enqueue import start_and_enqueue

BODY = "Cảnh báo: nước sông dâng cao, người dân khu vực ven sông chú ý.\n"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def first_sent(runtime: Runtime, campaign_id: int, timeout: float = 60) -> float:
    """Epoch seconds of the campaign's first accepted message (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.engine.connect() as conn:
            found = conn.execute(
                text("SELECT extract(epoch FROM min(sent_at)) FROM deliveries"
                     " WHERE campaign_id = :c AND sent_at IS NOT NULL"),
                {"c": campaign_id},
            ).scalar()  # fmt: skip
        if found is not None:
            return float(found)
        time.sleep(0.02)
    raise RuntimeError(f"campaign {campaign_id}: nothing sent after {timeout}s")


def stop_campaign(runtime: Runtime, campaign_id: int) -> None:
    with runtime.sessions.begin() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status is CampaignStatus.SENDING:
            cancel(session, campaign_id=campaign_id)


class DigestInFlight:
    """Keeps a copy of digest B (100,000 readers of the-thao) sending on the bulk worker."""

    def __init__(self, runtime: Runtime, template_id: int) -> None:
        self.runtime = runtime
        self.template_id = template_id
        self.current: int | None = None
        self.copies = 0

    def ensure(self) -> None:
        if self.current is not None:
            with self.runtime.sessions() as session:
                campaign = session.get(Campaign, self.current)
                assert campaign is not None
                if campaign.status is CampaignStatus.SENDING and (
                    (campaign.total_count or 0) - (campaign.sent_count or 0) > 20_000
                ):
                    return
            stop_campaign(self.runtime, self.current)
        with self.runtime.sessions.begin() as session:
            model = session.get(Campaign, self.template_id)
            assert model is not None
            self.copies += 1
            copy = Campaign(
                kind=model.kind, period=f"{model.period}-{uuid.uuid4().hex[:6]}",
                subject=model.subject, window_start=model.window_start,
                window_end=model.window_end, status=CampaignStatus.DRAFT,
                created_by="bench", meta=model.meta, categories=list(model.categories),
            )  # fmt: skip
            session.add(copy)
            session.flush()
            self.current = copy.id
        app = create_producer(self.runtime.settings)
        try:
            start_and_enqueue(app, self.runtime, self.current)
        finally:
            app.close()
        first_sent(self.runtime, self.current)
        time.sleep(2)  # the bulk worker in its stride


def publish_bulletin(runtime: Runtime) -> tuple[int, float]:
    """A bulletin created and started here; returns (id, epoch when its tasks went out)."""
    with runtime.sessions.begin() as session:
        campaign = create_bulletin(
            session, subject="Cảnh báo lũ khẩn cấp", body_markdown=BODY,
            category_slugs=["khan-cap"], created_by="bench",
        )  # fmt: skip
        campaign_id = campaign.id
    app = create_producer(runtime.settings)
    try:
        app.connection_for_write().ensure_connection()  # the broker connection, not timed
        from newsletter.tasks.enqueue import enqueue

        with runtime.sessions.begin() as session:
            work = start_campaign(
                session, campaign_id=campaign_id, batch_size=runtime.settings.batch_size
            )
        published = time.time()
        enqueue(app, [work])
    finally:
        app.close()
    return campaign_id, published


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", type=Path, default=None)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    run_id = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        rig = services.sending_rig(stack, f"bench_{run_id}", db_url=args.db_url)
        tmp, db_url, env = rig.tmp, rig.db_url, rig.env
        os.environ.update(env)
        settings = Settings()
        if args.db_url is None:
            migrate.upgrade(db_url)
            _, digest_b, seeded = seed(db_url, settings, args.n)
            log(f"seeded {args.n:,} subscribers in {seeded:.1f}s")
        else:
            digest_b = 2  # seed()'s digest B
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        child_env.update(env)
        if args.src is not None:
            child_env["PYTHONPATH"] = str(args.src.resolve())
        runtime = build_runtime(settings)
        stack.callback(runtime.close)
        stack.enter_context(services.newsletter_process(
            ["worker", "--queues", "bulk"], child_env, tmp / "bulk.log"))  # fmt: skip
        digest = DigestInFlight(runtime, digest_b)
        stack.callback(lambda: digest.current and stop_campaign(runtime, digest.current))
        exe = str(Path(sys.executable).parent / "newsletter")
        body = tmp / "bulletin.txt"
        body.write_text(BODY, encoding="utf-8")
        results: dict[str, list[float]] = {"cli": [], "cli_returned": [], "cold": [], "warm": []}
        for run in range(args.runs):
            for measure in ("cli", "cold"):
                log_file = tmp / f"urgent-{run}-{measure}.log"
                with services.newsletter_process(
                    ["worker", "--queues", "urgent,default"], child_env, log_file
                ):
                    deadline = time.monotonic() + 60
                    while " ready." not in log_file.read_text(errors="replace"):
                        if time.monotonic() > deadline:
                            raise RuntimeError(log_file.read_text(errors="replace")[-3000:])
                        time.sleep(0.2)
                    time.sleep(1)  # the pool's children up and idle
                    digest.ensure()
                    if measure == "cli":
                        launched = time.time()
                        out = subprocess.run(
                            [exe, "bulletin", "send", "--subject", "Cảnh báo lũ khẩn cấp",
                             "--body-file", str(body), "--category", "khan-cap", "--yes"],
                            env=child_env, capture_output=True, text=True, check=True,
                        )  # fmt: skip
                        returned = time.time() - launched
                        campaign_id = int(out.stdout.strip().splitlines()[-1])
                        first = first_sent(runtime, campaign_id) - launched
                        stop_campaign(runtime, campaign_id)
                        results["cli"].append(first)
                        results["cli_returned"].append(returned)
                        log(f"run {run}: CLI launch → first accepted {first:.3f}s "
                            f"(returned after {returned:.2f}s)")  # fmt: skip
                    else:
                        for label in ("cold", "warm"):
                            digest.ensure()
                            campaign_id, published = publish_bulletin(runtime)
                            first = first_sent(runtime, campaign_id) - published
                            stop_campaign(runtime, campaign_id)
                            results[label].append(first)
                            log(f"run {run}: {label} worker, published → first {first:.3f}s")
                            time.sleep(1)
        print(f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, src: {args.src or 'this checkout'}"
              f", load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        for name, values in results.items():
            shown = ", ".join(f"{v:.3f}" for v in values)
            print(f"{name:>13}: median {statistics.median(values):.3f} s ({shown})")


if __name__ == "__main__":
    main()
