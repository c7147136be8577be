"""`newsletter articles ...`: not built yet (issue 4)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Articles in the store.", no_args_is_help=True)


@app.command("import", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def import_() -> None:
    """Import articles from a JSON, CSV or RSS/Atom FILE."""
    not_built("articles import", issue=4)
