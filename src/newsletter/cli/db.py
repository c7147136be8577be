"""`newsletter db ...`: the schema."""

from __future__ import annotations

import typer

from newsletter import migrate
from newsletter.cli.common import cli_settings
from newsletter.cli.output import console

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = cli_settings()
    migrate.upgrade(settings.database_url, revision)
    console.print(f"database is at revision {migrate.head_revision(settings.database_url)}")
