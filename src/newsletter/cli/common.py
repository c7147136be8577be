"""What every command shares: settings loading with clear errors, the runtime, stubs.

Plain output only (typer's echo): the rich consoles live in output.py, which `bulletin
send` does not import.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError

from newsletter.config import Settings, load_settings
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


@contextmanager
def cli_runtime() -> Iterator[Runtime]:
    runtime = build_runtime(cli_settings())
    try:
        yield runtime
    finally:
        runtime.close()
