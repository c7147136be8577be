"""`newsletter retention run`: delete the delivery rows of long-finished campaigns.

Beat runs the same nightly ("retention", tasks/app.py); what is kept and why:
docs/privacy.md.
"""

from __future__ import annotations

import json

import typer

from newsletter.cli.common import cli_runtime
from newsletter.delivery.retention import DEFAULT_BATCH_SIZE, run_retention

app = typer.Typer(help="Personal data retention.", no_args_is_help=True)


@app.command("run")
def run(
    days: int | None = typer.Option(
        None, "--days", min=1, help="Keep this many days (default: NEWSLETTER_RETENTION_DAYS)."
    ),
    batch_size: int = typer.Option(
        DEFAULT_BATCH_SIZE, "--batch-size", min=1, max=100_000, help="Rows per DELETE."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete the delivery rows of campaigns finished more than RETENTION_DAYS ago.

    Campaign totals stay on the campaign; draft, sending and paused campaigns are never
    touched. Prints what it deleted.
    """
    from rich.progress import BarColumn, Progress, TextColumn

    with cli_runtime() as rt:
        keep = days if days is not None else rt.settings.retention_days
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} rows"),
            transient=True, disable=as_json,
        ) as bar:  # fmt: skip
            task = bar.add_task("deleting delivery rows", total=None)
            report = run_retention(
                rt.sessions,
                days=keep,
                batch_size=batch_size,
                on_batch=lambda _campaign, rows: bar.advance(task, rows),
            )
    if as_json:
        print(
            json.dumps(
                {
                    "cutoff": report.cutoff.isoformat(),
                    "days": keep,
                    "deleted": report.total,
                    "batches": report.batches,
                    "campaigns": {str(k): v for k, v in sorted(report.deleted.items())},
                }
            )
        )
        return
    cutoff = report.cutoff.strftime("%Y-%m-%d %H:%M UTC")
    if not report.total:
        typer.echo(f"nothing to delete: no delivery rows of campaigns finished before {cutoff}")
        return
    for campaign_id, rows in sorted(report.deleted.items()):
        typer.echo(f"campaign #{campaign_id}: deleted {rows} delivery row(s)")
    typer.echo(
        f"deleted {report.total} delivery row(s) of {len(report.deleted)} campaign(s) "
        f"finished before {cutoff} ({keep} days), in {report.batches} batch(es); "
        "campaign totals kept"
    )
