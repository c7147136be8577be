"""The `newsletter` command: one sub-command group per concern of the contract.

Sub-command modules are imported only when their command runs: importing them all (argon2,
flufl.bounce, httpx, alembic, uvicorn, rich tables…) cost an urgent bulletin more than a
second before its first query. `newsletter --help` lists every command from the table below
without importing any of them; a test checks the table against the commands' own help.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any, NamedTuple

import typer
import typer._click as click
import typer.core
import typer.main


class Entry(NamedTuple):
    module: str  # newsletter.cli.<module>
    attr: str  # a Typer app ("app": a sub-command group) or a command function
    short_help: str  # what `newsletter --help` shows: the command's first help paragraph


# In the order `newsletter --help` lists them.
COMMANDS: dict[str, Entry] = {
    "run": Entry(
        "processes",
        "run",
        "Run web, worker and beat together (one command for a small installation).",
    ),
    "web": Entry("processes", "web", "Run the web server (public pages, API, admin)."),
    "worker": Entry(
        "processes",
        "worker",
        "Run a Celery worker (without --queues: the senders and the slow jobs, side by side).",
    ),
    "beat": Entry(
        "processes",
        "beat",
        "Run the Celery beat scheduler (weekly digest, feed polling, reconciler).",
    ),
    "db": Entry("db", "app", "Database schema."),
    "categories": Entry("categories", "app", "Categories (chuyên mục)."),
    "areas": Entry("areas", "app", "Areas (khu vực: wards, communes)."),
    "feeds": Entry("feeds", "app", "Article feeds (RSS/Atom)."),
    "articles": Entry("articles", "app", "Articles in the store."),
    "digest": Entry("digest", "app", "The weekly digest."),
    "bulletin": Entry("bulletin", "app", "Urgent bulletins."),
    "campaigns": Entry("campaigns", "app", "Campaigns and their progress."),
    "subscribers": Entry("subscribers", "app", "Subscribers."),
    "admin": Entry("admin", "app", "Admin accounts and API tokens."),
    "bounces": Entry("bounces", "app", "Bounce and complaint intake."),
    "retention": Entry("retention", "app", "Personal data retention."),
    "outbox": Entry(
        "outbox", "outbox", "Read the Maildir outbox (NEWSLETTER_SMTP_URL maildir:PATH), decoded."
    ),
}


def load_command(name: str) -> click.Command:
    """Import one sub-command's module and build its command as `add_typer` would have."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"newsletter.cli.{entry.module}"), entry.attr)
    # A throw-away parent, so Typer converts the command exactly as it did when every
    # command was registered on `app` (same name, same defaults, no completion options).
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name=name)(target)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(typer.core.TyperGroup):
    """A group whose listing comes from COMMANDS and whose commands load when resolved.

    `get_command` (used to list commands in help, completion and "did you mean") answers
    with a placeholder carrying the name and short help; `resolve_command`, the step before
    a command runs or shows its own help, swaps in the real command.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, entry in COMMANDS.items():
            self.commands.setdefault(name, typer.core.TyperCommand(name, help=entry.short_help))
        self._loaded: dict[str, click.Command] = {}

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in COMMANDS:
            if name not in self._loaded:
                self._loaded[name] = load_command(name)
            command = self._loaded[name]
        return name, command, rest


app = typer.Typer(
    name="newsletter",
    cls=LazyGroup,
    help="Bản tin: the newsletter service of a city portal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    # Typer builds a group only for an app with a callback or registered commands; the
    # commands here are LazyGroup's, so this no-op callback is what makes `app` a group.
    pass


# The urgent path's one-shot command runs without the cyclic garbage collector: while it
# imported what it needs, full collections took 61-130 ms the longest (six over 5 ms,
# bench/run.py --gc-pauses), and without them the command runs ~10 % faster (0.54 against
# 0.60 s, 0.57 against 0.64 s: medians of ten, side by side, bench/bench_cli_start.py;
# the same code against itself: 0.98). What it makes (one set-based
# campaign start, a task message per batch) is freed by reference counting. Every other
# command keeps the collector: servers run for weeks, imports and polls can run long.
QUICK_COMMANDS = (["bulletin", "send"],)


def main() -> None:
    """Run a command; a configuration problem it meets ends it with one line, code 4."""
    if sys.argv[1:3] in QUICK_COMMANDS:
        gc.disable()
    try:
        app()
    except Exception as exc:
        # Imported here: `newsletter bulletin send` pays for nothing it does not use.
        from newsletter.cli.failures import explain

        message = explain(exc)
        if message is None:
            raise
        typer.secho("error:", fg="red", err=True, nl=False)
        typer.echo(f" {message}", err=True)
        raise SystemExit(4) from None
