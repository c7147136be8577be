"""`newsletter bulletin ...`: not built yet (issue 6)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Urgent bulletins.", no_args_is_help=True)


@app.command("send", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def send() -> None:
    """Send a bulletin (--subject S --body-file F [--category SLUG]... [--test-to ADDR] [--yes])."""
    not_built("bulletin send", issue=6)
