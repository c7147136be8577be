"""`newsletter campaigns list | show ID | pause ID | resume ID | cancel ID | retry-failed ID`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.control import CampaignStateError
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.models import CampaignStatus
from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import control_campaign

app = typer.Typer(help="Campaigns and their progress.", no_args_is_help=True)

ID = typer.Argument(..., help="Campaign id (see `newsletter campaigns list`).")


def _control(campaign_id: int, action: str) -> int:
    """Act through the one enqueue API (commit, then enqueue); a missing campaign or a
    wrong state ends the command with its reason."""
    with cli_runtime() as rt:
        try:
            return control_campaign(rt, campaign_id=campaign_id, action=action)
        except (LookupError, CampaignStateError) as exc:
            fail(str(exc))


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(50, help="How many, newest first."),
) -> None:
    """List campaigns, newest first."""
    with cli_runtime() as rt, rt.sessions() as session:
        rows = [
            {
                "id": c.id,
                "kind": c.kind.value,
                "status": c.status.value,
                "subject": c.subject,
                "sent": c.sent_count,
                "total": c.total_count,
                "created_at": c.created_at.isoformat(),
            }
            for c in campaign_control.list_campaigns(session, limit=limit)
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "kind", "status", "sent/total", "subject", "created")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["kind"]),
            str(row["status"]),
            f"{row['sent']}/{row['total']}",
            str(row["subject"]),
            str(row["created_at"])[:16],
        )
    console.print(table)


def _describe(p: campaign_control.Progress) -> str:
    counts = f"{p.status}: sent {p.sent}, failed {p.failed}, skipped {p.skipped}"
    if p.status != CampaignStatus.SENDING.value:
        # Paused, finished or cancelled: no rate to speak of and no time left to wait.
        ended = f" · ended {p.finished_at:%Y-%m-%d %H:%M} UTC" if p.finished_at else ""
        queued = f", queued {p.waiting}" if p.waiting else ""
        return counts + queued + ended
    left = "?" if p.seconds_left is None else f"{p.seconds_left:.0f}s"
    return f"{counts}, queued {p.waiting} · {p.rate:.1f}/s · time left {left}"


@app.command()
def show(
    campaign_id: int = ID,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON snapshot."),
    follow: bool = typer.Option(
        True, "--follow/--no-follow", help="Keep the progress bar live while it sends."
    ),
) -> None:
    """Show a campaign's progress: sent, failed, queued, rate, time left."""
    with cli_runtime() as rt:
        snapshot = _progress_reader(rt, campaign_id)
        current = snapshot()
        if as_json:
            print(json.dumps(current.as_json(), ensure_ascii=False))
            return
        console.print(
            f"[bold]#{current.id}[/bold] {current.kind}: {current.subject}", highlight=False
        )
        live = follow and current.status == CampaignStatus.SENDING.value and console.is_terminal
        with Progress(
            TextColumn("{task.percentage:>3.0f}%"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.description}"),
            console=console,
            transient=False,
            auto_refresh=False,
        ) as bar:
            task = bar.add_task(_describe(current), total=max(current.total, 1))
            while True:
                done = current.total - current.waiting
                bar.update(task, completed=done, description=_describe(current))
                bar.refresh()
                if not live or current.status != CampaignStatus.SENDING.value:
                    break
                time.sleep(1.0)
                current = snapshot()


def _progress_reader(rt: Runtime, campaign_id: int) -> Callable[[], campaign_control.Progress]:
    def read() -> campaign_control.Progress:
        with rt.sessions() as session:
            try:
                return campaign_control.progress(session, campaign_id=campaign_id)
            except LookupError as exc:
                fail(str(exc))

    return read


@app.command()
def pause(campaign_id: int = ID) -> None:
    """Pause a sending campaign (a chunk already claimed finishes)."""
    _control(campaign_id, "pause")
    console.print(f"campaign {campaign_id} paused")


@app.command()
def resume(campaign_id: int = ID) -> None:
    """Resume a paused campaign."""
    batches = _control(campaign_id, "resume")
    console.print(f"campaign {campaign_id} resumed ({batches} batches queued)")


@app.command()
def cancel(campaign_id: int = ID) -> None:
    """Cancel a campaign: whatever is still queued is never sent."""
    skipped = _control(campaign_id, "cancel")
    console.print(f"campaign {campaign_id} cancelled ({skipped} messages will not be sent)")


@app.command("retry-failed")
def retry_failed(campaign_id: int = ID) -> None:
    """Queue a campaign's failed messages again."""
    batches = _control(campaign_id, "retry-failed")
    console.print(f"campaign {campaign_id}: failed messages queued again ({batches} batches)")
