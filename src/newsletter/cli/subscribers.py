"""`newsletter subscribers ...`: erase is built; import, export and stats come with issue 7."""

from __future__ import annotations

import json

import typer

from newsletter.addresses import suppression_hash
from newsletter.cli.common import cli_runtime, console, not_built
from newsletter.models import AuditEvent
from newsletter.subscriptions import erase_address

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


@app.command("erase")
def erase(
    address: str = typer.Argument(..., help="The e-mail address to erase."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Erase ADDR: personal data removed, only a hashed suppression kept."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        found = erase_address(session, email=address)
        # The audit trail names the hash, never the address it just erased.
        session.add(
            AuditEvent(actor="cli", action="subscriber.erase", target=suppression_hash(address))
        )
    if as_json:
        print(json.dumps({"erased": found, "suppressed": True}))
    elif found:
        console.print("erased the subscriber; a hashed suppression entry remains", highlight=False)
    else:
        console.print(
            "no subscriber with that address; a hashed suppression entry was recorded",
            highlight=False,
        )
