"""`newsletter admin ...`: not built yet (issue 7)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Admin accounts and API tokens.", no_args_is_help=True)


@app.command(
    "create-user", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def create_user() -> None:
    """Create an admin user NAME (password from a prompt or stdin)."""
    not_built("admin create-user", issue=7)


@app.command(
    "create-token", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def create_token() -> None:
    """Create an API token NAME and print it once."""
    not_built("admin create-token", issue=7)
