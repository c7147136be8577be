"""`newsletter areas ...`: the areas (khu vực) residents choose and bulletins target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.subscribers.areas import (
    AreaError,
    add_area,
    import_areas,
    list_areas,
    read_area_csv,
)

app = typer.Typer(help="Areas (khu vực: wards, communes).", no_args_is_help=True)


@app.command("add")
def add(
    code: str = typer.Argument(..., help="Short ASCII id, e.g. phuong-hoa-binh or 20194."),
    name: str = typer.Argument(..., help="Display name, e.g. 'Phường Hòa Bình'."),
    parent: str | None = typer.Option(None, "--parent", help="Code of the area it lies in."),
) -> None:
    """Add an area."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        try:
            area = add_area(session, code=code, name=name, parent_code=parent)
        except AreaError as exc:
            fail(str(exc))
        console.print(f"added area {area.code} ({area.name})", highlight=False)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List areas, each parent followed by the areas inside it."""
    with cli_runtime() as rt, rt.sessions() as session:
        rows = list_areas(session)
    if as_json:
        data = [{"code": r.code, "name": r.name, "parent": r.parent_code} for r in rows]
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table("code", "name", "parent")
    for row in rows:
        table.add_row(row.code, "  " * row.depth + row.name, row.parent_code or "")
    console.print(table)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="CSV with columns code,name[,parent].", dir_okay=False)
    ],
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Add or update areas from a CSV file; importing it again changes nothing."""
    try:
        rows = list(read_area_csv(file.read_text(encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read {file}: {exc}")
    with cli_runtime() as rt, rt.sessions.begin() as session:
        result = import_areas(session, rows=rows)
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        typer.echo(
            f"areas: created {result.created}, updated {result.updated}, "
            f"unchanged {result.unchanged}, rejected {len(result.rejected)}"
        )
        for line, reason in result.rejected[:50]:
            typer.echo(f"  line {line}: {reason}", err=True)
    if result.rejected:
        raise typer.Exit(1)
