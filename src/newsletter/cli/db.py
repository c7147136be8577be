"""`newsletter db ...`: the schema, and the key the suppression hashes are written with."""

from __future__ import annotations

import typer

from newsletter import migrate
from newsletter.address_key import AddressKey, record_fingerprint
from newsletter.cli.common import cli_settings, require_address_key
from newsletter.cli.output import console
from newsletter.config import Settings
from newsletter.runtime import build_runtime
from newsletter.subscribers.suppression import Rekeyed, rekey_suppressions

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def rekey(settings: Settings) -> Rekeyed:
    """After migrating: refuse a changed key, then re-key what can be (docs/security.md)."""
    runtime = build_runtime(settings)
    try:
        require_address_key(runtime)
        with runtime.sessions.begin() as session:
            return rekey_suppressions(session)
    finally:
        runtime.close()


def report(done: Rekeyed) -> None:
    if done.rekeyed:
        console.print(f"re-keyed {done.rekeyed} unkeyed suppression hashes", highlight=False)
    if done.left:
        console.print(
            f"{done.left} unkeyed suppression hashes left (erased addresses: they still "
            "block, and are re-keyed if the address is seen again)",
            highlight=False,
        )


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest), then re-key suppressions."""
    settings = cli_settings()
    migrate.upgrade(settings.database_url, revision)
    console.print(f"database is at revision {migrate.head_revision(settings.database_url)}")
    if revision == "head":
        report(rekey(settings))


@app.command("rekey")
def rekey_command(
    accept_new_key: bool = typer.Option(
        False,
        "--accept-new-key",
        help="Adopt this key although the suppressions were written with another one "
        "(only when the previous key is lost: those suppressions stop matching).",
    ),
) -> None:
    """Re-key unkeyed suppression hashes whose address is still known."""
    settings = cli_settings()
    if accept_new_key:
        runtime = build_runtime(settings)
        try:
            with runtime.sessions.begin() as session:
                record_fingerprint(session, AddressKey.from_settings(settings), replace=True)
        finally:
            runtime.close()
        console.print(
            "recorded this key for the suppression list; suppressions written with the "
            "previous key no longer match any address",
            highlight=False,
        )
    report(rekey(settings))
