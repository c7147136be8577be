"""`newsletter bounces process [PATH]`: read bounces and complaints now."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from newsletter.bounces.intake import process_path
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console

app = typer.Typer(help="Bounce and complaint intake.", no_args_is_help=True)


@app.command("process")
def process(
    path: Path | None = typer.Argument(
        None, help="A message file or a Maildir folder (default: NEWSLETTER_BOUNCE_MAILDIR)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Process bounce and complaint messages: suppress dead and complaining addresses."""
    with cli_runtime() as rt:
        target = path or rt.settings.bounce_maildir
        if target is None:
            fail("give a PATH or set NEWSLETTER_BOUNCE_MAILDIR")
        try:
            summary = process_path(rt, target)
        except FileNotFoundError as exc:
            fail(str(exc))
    if as_json:
        print(
            json.dumps(
                {"processed": summary.processed, "failed": summary.failed, **summary.actions}
            )
        )
        return
    actions = ", ".join(f"{k}: {v}" for k, v in sorted(summary.actions.items())) or "nothing to do"
    console.print(
        f"processed {summary.processed} message(s) ({actions}); unreadable: {summary.failed}"
    )
