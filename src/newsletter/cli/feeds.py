"""`newsletter feeds ...`: register RSS/Atom feeds, list their health, poll them now."""

from __future__ import annotations

import datetime as dt
import json

import typer
from rich.table import Table

from newsletter.cli.alerts import start_alerts_after_ingest
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.content.feeds import add_feed, list_feeds, poll_all_feeds
from newsletter.content.fetch import FeedError

app = typer.Typer(help="Article feeds (RSS/Atom).", no_args_is_help=True)


@app.command("add")
def add(
    url: str = typer.Argument(..., help="The feed's http(s) URL."),
    category: str | None = typer.Option(
        None, "--category", help="Slug of the category for entries whose own categories match none."
    ),
) -> None:
    """Add a feed: URL --category SLUG."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        try:
            feed = add_feed(session, url=url, category_slug=category)
        except FeedError as exc:
            fail(str(exc))
        console.print(f"added feed {feed.id}: {feed.url}", highlight=False)


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List feeds with their last poll, last success and last error."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        rows = [
            {
                "id": f.id,
                "url": f.url,
                "title": f.title,
                "category": f.category.slug if f.category else None,
                "last_polled_at": _when(f.last_polled_at),
                "last_success_at": _when(f.last_success_at),
                "last_error": f.last_error,
            }
            for f in list_feeds(session)
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("id", "url", "category", "last success", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["url"]),
            str(row["category"] or ""),
            str(row["last_success_at"] or "never"),
            str(row["last_error"] or ""),
        )
    console.print(table)


@app.command("poll")
def poll(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Poll every feed now and report each; exits 1 when any feed failed."""
    with cli_runtime() as rt, console.status("polling feeds…"):
        results = poll_all_feeds(rt)
        if any(r.new for r in results):
            start_alerts_after_ingest(rt)
    if as_json:
        print(json.dumps([r.as_dict() for r in results], ensure_ascii=False))
    else:
        table = Table("id", "url", "status", "new", "updated", "rejected", "error")
        for r in results:
            table.add_row(
                str(r.feed_id), r.url, r.status, str(r.new), str(r.updated), str(r.rejected),
                r.error or "",
            )  # fmt: skip
        console.print(table if results else "no feeds registered (newsletter feeds add URL)")
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)
