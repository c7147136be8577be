"""What every command shares: settings loading with clear errors, the runtime, stubs.

Plain output only (typer's echo): the rich consoles live in output.py, which `bulletin
send` does not import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from newsletter.address_key import address_key_of, key_problem
from newsletter.config import Settings, load_settings
from newsletter.db import is_sqlite, normalize_database_url
from newsletter.runtime import Runtime, build_runtime


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho("error:", fg="red", err=True, nl=False)
    typer.echo(f" {message}", err=True)
    raise typer.Exit(code)


def cli_settings() -> Settings:
    """Settings from the environment; a bad value ends the command with one clear line."""
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid settings: {problems}", code=2)


def require_sqlite_file(settings: Settings) -> None:
    """Refuse a SQLite database file that does not exist, instead of creating an empty one.

    The embedded defaults live under ./var/ of the folder a command runs in: from another
    folder, an empty new database would only answer "no such table" (or worse, take work
    no worker ever sees).
    """
    if not is_sqlite(settings.database_url):
        return
    database = make_url(normalize_database_url(settings.database_url)).database
    if not database or database == ":memory:" or Path(database).exists():
        return
    fail(
        f"no database at {Path(database).absolute()}: run this command in the folder "
        "where the service runs (the embedded defaults live in its ./var/), or set "
        "NEWSLETTER_VAR_DIR (or NEWSLETTER_DATABASE_URL) to it; `newsletter db upgrade` "
        "creates a new one here",
        code=4,
    )


def require_address_key(runtime: Runtime) -> None:
    """Refuse to go on when the suppressions were written with another key.

    With another key every suppression would stop matching: suppressed, bounced and
    erased addresses would be mailed again without a word (address_key.py).
    """
    with runtime.sessions.begin() as session:
        problem = key_problem(session, address_key_of(session))
    if problem:
        fail(f"cannot start: {problem}", code=2)


@contextmanager
def cli_runtime() -> Iterator[Runtime]:
    """The runtime of a command that uses an existing database (its key checked)."""
    settings = cli_settings()
    require_sqlite_file(settings)
    runtime = build_runtime(settings)
    try:
        require_address_key(runtime)
        yield runtime
    finally:
        runtime.close()
