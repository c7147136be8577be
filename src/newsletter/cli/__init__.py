"""The `newsletter` command: one sub-command group per concern of the contract."""

from __future__ import annotations

import typer

from newsletter.cli import (
    admin,
    articles,
    bounces,
    bulletin,
    campaigns,
    categories,
    db,
    digest,
    feeds,
    processes,
    subscribers,
)

app = typer.Typer(
    name="newsletter",
    help="Bản tin: the newsletter service of a city portal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(processes.run)
app.command()(processes.web)
app.command()(processes.worker)
app.command()(processes.beat)
app.add_typer(db.app, name="db")
app.add_typer(categories.app, name="categories")
app.add_typer(feeds.app, name="feeds")
app.add_typer(articles.app, name="articles")
app.add_typer(digest.app, name="digest")
app.add_typer(bulletin.app, name="bulletin")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(admin.app, name="admin")
app.add_typer(bounces.app, name="bounces")


def main() -> None:
    app()
