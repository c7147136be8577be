"""`newsletter digest ...`: not built yet (issue 5)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="The weekly digest.", no_args_is_help=True)


@app.command("preview", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def preview() -> None:
    """Write the digest ADDR would get now (--email ADDR [--out FILE.eml])."""
    not_built("digest preview", issue=5)


@app.command("send", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def send() -> None:
    """Build and start this period's digest (--now)."""
    not_built("digest send", issue=5)
