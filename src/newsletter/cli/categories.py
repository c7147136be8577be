"""`newsletter categories ...`: the chuyên mục residents choose among."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.content.categories import CategoryError, add_category, list_categories

app = typer.Typer(help="Categories (chuyên mục).", no_args_is_help=True)


@app.command("add")
def add(
    slug: str = typer.Argument(..., help="Short ASCII id, e.g. tin-tuc."),
    name: str = typer.Argument(..., help="Display name, e.g. 'Tin tức'."),
) -> None:
    """Add a category."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        try:
            category = add_category(session, slug=slug, name=name)
        except CategoryError as exc:
            fail(str(exc))
        console.print(f"added category {category.slug} ({category.name})", highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List categories."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        rows = [(c.slug, c.name) for c in list_categories(session)]
    if as_json:
        print(json.dumps([{"slug": s, "name": n} for s, n in rows], ensure_ascii=False))
        return
    table = Table("slug", "name")
    for slug, name in rows:
        table.add_row(slug, name)
    console.print(table)
