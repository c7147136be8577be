"""`newsletter bounces ...`: not built yet (issue 8)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Bounce and complaint intake.", no_args_is_help=True)


@app.command("process", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def process() -> None:
    """Process bounce messages from PATH (a Maildir or a file)."""
    not_built("bounces process", issue=8)
