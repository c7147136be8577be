"""`newsletter digest ...`: not built yet (issue 5)."""

from __future__ import annotations

import typer

from newsletter.cli.common import not_built

app = typer.Typer(help="The weekly digest.", no_args_is_help=True)


@app.command("preview", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def preview() -> None:
    """Write the digest ADDR would get now (--email ADDR [--out FILE.eml])."""
    not_built("digest preview", issue=5)


@app.command("send")
def send(
    now: bool = typer.Option(False, "--now", help="Build and start it now (required)."),
) -> None:
    """Build and start this period's digest (--now)."""
    from newsletter.cli.common import cli_runtime, console, fail
    from newsletter.dispatch import send_digest_now

    if not now:
        fail("say --now to build and start this period's digest now (beat does it on schedule)")
    with cli_runtime() as rt:
        campaign_id = send_digest_now(rt)
    if campaign_id is None:
        console.print("no digest: no new article since the last one, or this period's is made")
        return
    console.print(f"digest #{campaign_id} started")
