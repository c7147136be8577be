"""`newsletter subscribers ...`: import, export, stats, erase."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from newsletter.accounts.audit import record_audit
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.models import AuditEvent
from newsletter.ops.dashboard import subscriber_overview
from newsletter.subscribers.frequency import count_by_frequency
from newsletter.subscribers.preferences import erase_address
from newsletter.subscribers.roster import export_csv, import_subscribers, read_csv, subscriber_stats
from newsletter.subscribers.suppression import address_hashes
from newsletter.tasks.app import create_producer
from newsletter.tasks.enqueue import queue_confirmations

app = typer.Typer(help="Subscribers.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ...,
        help="CSV with an 'email' column; optional name, categories (slugs separated by ;), "
        "frequency (ngay-khi-co, hang-ngay, hang-tuan; blank: weekly).",
    ),
    consent_source: str | None = typer.Option(
        None,
        "--consent-source",
        help="Where these residents consented (e.g. 'paper form, ward office, 2026-10'). "
        "With it rows become active; without it they are pending and get a confirmation.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import subscribers from FILE.csv."""
    if consent_source is not None and not consent_source.strip():
        fail("--consent-source must say where the consent was given")
    try:
        rows = list(read_csv(file.read_text(encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read {file}: {exc}")
    with cli_runtime() as rt:
        settings = rt.settings
        with rt.sessions.begin() as session:
            result = import_subscribers(
                session,
                rows=rows,
                consent_source=consent_source,
                resend_after=dt.timedelta(hours=settings.confirm_resend_hours),
                development=settings.is_development,
            )
            record_audit(
                session,
                actor="cli",
                action="subscribers.import",
                target=file.name,
                detail=json.dumps({k: v for k, v in result.as_dict().items() if k != "rejected"}),
            )
        celery = create_producer(settings)
        try:
            failed_mail = queue_confirmations(
                celery, rt, subscriber_ids=[subscriber_id for subscriber_id, _ in result.to_confirm]
            )
        finally:
            celery.close()
    summary = result.as_dict() | {"confirmations_not_queued": failed_mail}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    console.print(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, "
        f"rejected {len(result.rejected)}, confirmations queued "
        f"{len(result.to_confirm) - failed_mail}",
        highlight=False,
    )
    for line, reason in result.rejected[:50]:
        console.print(f"  line {line}: {reason}", highlight=False)


@app.command("export")
def export(
    out: Path | None = typer.Option(None, "--out", help="Write to FILE instead of stdout."),
) -> None:
    """Export subscribers as CSV (stdout by default)."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        target = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        try:
            for chunk in export_csv(session):
                target.write(chunk)
        finally:
            if out:
                target.close()
        record_audit(session, actor="cli", action="subscribers.export", target=str(out or "stdout"))


@app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Subscriber counts by status and category, suppressions, bounces and complaints."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        numbers = subscriber_stats(session)
        overview = subscriber_overview(session, now=dt.datetime.now(dt.UTC))
        by_frequency = count_by_frequency(session)
    data = {
        "by_status": numbers.by_status,
        "by_category": {c.slug: c.subscribers for c in overview.by_category},
        "all_categories": overview.all_categories,
        "active_by_frequency": by_frequency,
        "suppressed": numbers.suppressed,
        "bounced_messages": numbers.bounced_messages,
        "complaints": numbers.complaints,
    }
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table("status", "subscribers")
    for status, count in numbers.by_status.items():
        table.add_row(status, str(count))
    console.print(table)
    cats = Table("category", "chose it")
    for c in overview.by_category:
        cats.add_row(c.name, str(c.subscribers))
    cats.add_row("(all categories)", str(overview.all_categories))
    console.print(cats)
    console.print(
        "active by frequency: " + ", ".join(f"{k} {v}" for k, v in by_frequency.items()),
        highlight=False,
    )
    console.print(
        f"suppressed addresses: {numbers.suppressed}; bounced messages: "
        f"{numbers.bounced_messages}; complaints: {numbers.complaints}",
        highlight=False,
    )


@app.command("erase")
def erase(
    address: str = typer.Argument(..., help="The e-mail address to erase."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Erase ADDR: personal data removed, only a hashed suppression kept."""
    with cli_runtime() as rt, rt.sessions.begin() as session:
        found = erase_address(session, email=address)
        # The audit trail names the keyed hash, never the address it just erased.
        target = address_hashes(session, address).keyed
        session.add(AuditEvent(actor="cli", action="subscriber.erase", target=target))
    if as_json:
        print(json.dumps({"erased": found, "suppressed": True}))
    elif found:
        console.print("erased the subscriber; a hashed suppression entry remains", highlight=False)
    else:
        console.print(
            "no subscriber with that address; a hashed suppression entry was recorded",
            highlight=False,
        )
