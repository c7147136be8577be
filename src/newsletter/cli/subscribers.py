"""`newsletter subscribers ...`: not built yet (issue 7)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Subscribers.", no_args_is_help=True)


@app.command("import", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def import_() -> None:
    """Import subscribers from FILE.csv [--consent-source TEXT]."""
    not_built("subscribers import", issue=7)


@app.command("export", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def export() -> None:
    """Export subscribers as CSV."""
    not_built("subscribers export", issue=7)


@app.command("stats", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def stats() -> None:
    """Subscriber counts by status and category."""
    not_built("subscribers stats", issue=7)


@app.command("erase", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def erase() -> None:
    """Erase ADDR: personal data removed, suppression kept."""
    not_built("subscribers erase", issue=7)
