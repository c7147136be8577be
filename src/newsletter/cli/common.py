"""What every command shares: settings loading with clear errors, the runtime, stubs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from newsletter.config import Settings, load_settings
from newsletter.runtime import Runtime, build_runtime

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
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
