"""`newsletter admin ...`: admin accounts and API tokens."""

from __future__ import annotations

import json
import sys

import typer

from newsletter.accounts.api_tokens import create_api_token, list_api_tokens, revoke_api_token
from newsletter.accounts.audit import record_audit
from newsletter.accounts.officials import (
    MIN_PASSWORD_LENGTH,
    AdminUserError,
    check_new_username,
    create_admin_user,
)
from newsletter.accounts.roles import (
    ALL_SCOPES,
    DEFAULT_ROLE,
    ROLE_NAMES,
    Role,
    parse_scopes,
    stored_scopes,
)
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console, err_console

app = typer.Typer(help="Admin accounts and API tokens.", no_args_is_help=True)

ROLE_HELP = f"One of {', '.join(ROLE_NAMES)}; each includes the ones before it."
SCOPE_HELP = f"Repeat for several: {', '.join(ALL_SCOPES)} (none given: all of them)."


def read_password() -> str:
    """From a hidden prompt on a terminal, else the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    # Checked at the first entry: typing a too-short password twice to hear so is a chore.
    while True:
        password: str = typer.prompt("Password", hide_input=True)
        if len(password) >= MIN_PASSWORD_LENGTH:
            break
        err_console.print(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters; try again",
            highlight=False,
        )
    if typer.prompt("Repeat for confirmation", hide_input=True) != password:
        fail("the two entries differ: nothing was created")
    return password


@app.command("create-user")
def create_user(
    name: str = typer.Argument(..., help="Login name of the new official."),
    role: str = typer.Option(
        DEFAULT_ROLE.label,
        "--role",
        help=ROLE_HELP,
    ),
) -> None:
    """Create an official NAME (password from a prompt, or from stdin when piped)."""
    try:
        chosen = Role.parse(role)
    except ValueError as exc:
        fail(str(exc))
    with cli_runtime() as rt, rt.sessions() as session:
        try:
            # Before the password is asked: a name that cannot be created is said at once.
            check_new_username(session, username=name)
        except AdminUserError as exc:
            fail(str(exc))
    password = read_password()
    with cli_runtime() as rt, rt.sessions.begin() as session:
        try:
            user = create_admin_user(session, username=name, password=password, role=chosen)
        except AdminUserError as exc:
            fail(str(exc))
        record_audit(
            session,
            actor="cli",
            action="admin_user_created",
            target=user.username,
            detail=f"role {chosen.label}",
        )
    console.print(f"created admin user {name} (role {chosen.label})", highlight=False)


@app.command("create-token")
def create_token(
    name: str = typer.Argument(..., help="What the token is for, e.g. 'cms'."),
    scope: list[str] | None = typer.Option(
        None,
        "--scope",
        help=SCOPE_HELP,
    ),
) -> None:
    """Create an API token NAME and print it once (only its hash is stored)."""
    if not name.strip() or len(name) > 200:
        fail("the token name must be 1-200 characters")
    try:
        scopes = parse_scopes(scope or [])
    except ValueError as exc:
        fail(str(exc))
    with cli_runtime() as rt, rt.sessions.begin() as session:
        token = create_api_token(session, name=name.strip(), scopes=scopes)
        record_audit(
            session,
            actor="cli",
            action="api_token_created",
            target=name.strip(),
            detail=f"scopes {stored_scopes(scopes)}",
        )
    print(token)
    err_console.print("store it now: it is not shown again", highlight=False)


@app.command("list-tokens")
def list_tokens(
    as_json: bool = typer.Option(False, "--json", help="One JSON array, for scripts."),
) -> None:
    """List API tokens: id, name, created, last used, revoked (never the secret)."""
    with cli_runtime() as rt, rt.sessions() as session:
        rows = [
            {
                "id": row.id,
                "name": row.name,
                "created_at": row.created_at.isoformat(),
                "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
                "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
                "scopes": row.scopes,
            }
            for row in list_api_tokens(session)
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        used = row["last_used_at"] or "never used"
        scopes = row["scopes"]
        console.print(
            f"#{row['id']}  {row['name']}  [{scopes}]  ({state}; last used: {used})",
            highlight=False,
        )


@app.command("revoke-token")
def revoke_token(
    token_id: int = typer.Argument(..., help="The token's id, from `admin list-tokens`."),
) -> None:
    """Revoke API token TOKEN_ID at once: its next request gets 401."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        try:
            row = revoke_api_token(session, token_id=token_id)
        except LookupError as exc:
            fail(str(exc))
        record_audit(session, actor="cli", action="api_token_revoked", target=row.name)
    console.print(f"revoked API token #{token_id} ({row.name})", highlight=False)
