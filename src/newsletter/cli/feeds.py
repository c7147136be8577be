"""`newsletter feeds ...`: not built yet (issue 4)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Article feeds (RSS/Atom).", no_args_is_help=True)


@app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def add() -> None:
    """Add a feed: URL --category SLUG."""
    not_built("feeds add", issue=4)


@app.command("list", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def list_() -> None:
    """List feeds with their last poll and error."""
    not_built("feeds list", issue=4)


@app.command("poll", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def poll() -> None:
    """Poll every feed now and report each."""
    not_built("feeds poll", issue=4)
