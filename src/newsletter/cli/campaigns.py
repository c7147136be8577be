"""`newsletter campaigns ...`: not built yet (issue 6)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="Campaigns and their progress.", no_args_is_help=True)


@app.command("list", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def list_() -> None:
    """List campaigns."""
    not_built("campaigns list", issue=6)


@app.command("show", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def show() -> None:
    """Show a campaign's live progress (ID [--json])."""
    not_built("campaigns show", issue=6)


@app.command("pause", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pause() -> None:
    """Pause a campaign (ID)."""
    not_built("campaigns pause", issue=6)


@app.command("resume", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def resume() -> None:
    """Resume a paused campaign (ID)."""
    not_built("campaigns resume", issue=6)


@app.command("cancel", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def cancel() -> None:
    """Cancel a campaign (ID)."""
    not_built("campaigns cancel", issue=6)


@app.command(
    "retry-failed", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def retry_failed() -> None:
    """Re-queue a campaign's failed deliveries (ID)."""
    not_built("campaigns retry-failed", issue=6)
