"""`newsletter articles ...`: import articles from files (and the packaged demo feed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import Progress

from newsletter.cli.alerts import start_alerts_after_ingest
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.content.articles import IngestSummary
from newsletter.content.demo import demo_records, ensure_demo_categories
from newsletter.content.file_import import (
    ArticleImportError,
    Record,
    import_records,
    read_records,
)
from newsletter.models import utcnow
from newsletter.subscribers.areas import ensure_demo_areas

app = typer.Typer(help="Articles in the store.", no_args_is_help=True)


def _report(summary: IngestSummary, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    console.print(
        f"new: {summary.new}, updated: {summary.updated}, unchanged: {summary.unchanged}, "
        f"rejected: {len(summary.rejected)}",
        highlight=False,
    )
    for where, reason in summary.rejected:
        console.print(f"  rejected {where}: {reason}", highlight=False)


@app.command("import")
def import_(
    file: Annotated[
        Path | None,
        typer.Argument(help="A .json, .csv or RSS/Atom (.xml) file.", dir_okay=False),
    ] = None,
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Import the packaged demo feed (and its categories) instead, dated so that "
        "its newest article was published now (again at each import).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import articles from a JSON, CSV or RSS/Atom FILE; re-importing updates, never duplicates."""
    if (file is None) == (not demo):
        fail("give either a FILE or --demo")
    with cli_runtime() as rt:
        timezone = ZoneInfo(rt.settings.timezone)
        try:
            records: list[Record] = (
                demo_records(timezone=timezone, now=utcnow())
                if file is None
                else read_records(file, timezone=timezone)
            )
        except ArticleImportError as exc:
            fail(f"cannot import {file or 'the demo feed'}: {exc}")
        with rt.sessions.begin() as session, Progress(console=console, transient=True) as bar:
            if demo:
                ensure_demo_categories(session)
                ensure_demo_areas(session)
            task = bar.add_task("importing", total=len(records))
            summary = import_records(session, records=records, progress=lambda: bar.advance(task))
        if summary.new:
            start_alerts_after_ingest(rt)
    _report(summary, as_json=as_json)
