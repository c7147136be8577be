"""`newsletter digest preview | send`: the weekly digest (and the daily one)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.campaigns.build import (
    NoDigest,
    digest_for_period,
    digest_period,
    nothing_new,
    plan_digest,
)
from newsletter.campaigns.preview import composer_for_campaign
from newsletter.cli.common import cli_runtime, fail
from newsletter.cli.output import console
from newsletter.mail.outgoing import Recipient
from newsletter.models import Frequency, Subscriber
from newsletter.tasks.enqueue import send_digest_now

app = typer.Typer(help="The weekly digest.", no_args_is_help=True)


def _find_subscriber(session: Session, email: str) -> Subscriber | None:
    wanted = email.strip()
    found = session.scalar(select(Subscriber).where(Subscriber.email == wanted))
    if found is None:
        # Stored addresses are normalized (domain lower-cased); accept any case here.
        found = session.scalar(
            select(Subscriber).where(func.lower(Subscriber.email) == wanted.lower())
        )
    return found


@app.command("preview")
def preview(
    email: Annotated[str, typer.Option("--email", help="The subscriber's address.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the message here (.eml) instead of stdout.")
    ] = None,
) -> None:
    """Write the digest ADDR would get now: this period's digest, or the one it would build."""
    with cli_runtime() as runtime, runtime.sessions() as session:
        settings = runtime.settings
        subscriber = _find_subscriber(session, email)
        if subscriber is None:
            fail(f"no subscriber with the address {email!r}")
        now = dt.datetime.now(dt.UTC)
        campaign = digest_for_period(session, digest_period(settings, now))
        if campaign is None:
            # Built in memory only: previewing never creates the period's campaign.
            campaign = plan_digest(session, settings=settings, now=now)
        if campaign is None:
            reason = nothing_new(session, settings=settings, now=now)
            fail(f"no digest to preview: {reason.message}")
        composer = composer_for_campaign(session, settings, campaign)
        recipient = Recipient(
            delivery_id=0,
            subscriber_id=subscriber.id,
            email=subscriber.email,
            category_ids=frozenset(c.id for c in subscriber.categories),
            link_key=subscriber.link_key,
            # What a send would show them: only articles after their watermark.
            after_article=subscriber.mailed_through,
        )
        message = composer.compose(recipient)
        stored = f"campaign {campaign.id}" if campaign.id else "not stored: built in memory"
    # The receiving server records the envelope sender as Return-Path; so does the preview.
    data = f"Return-Path: <{message.envelope_from}>\r\n".encode("ascii") + message.data
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(data)
    console.print(
        f"wrote the digest for {message.recipient} to {out} ({len(data):,} bytes; {stored})",
        highlight=False,
    )


DIGEST_FREQUENCIES = (Frequency.DAILY.value, Frequency.WEEKLY.value)


@app.command("send")
def send(
    now: bool = typer.Option(False, "--now", help="Build and start it now (required)."),
    frequency: str = typer.Option(
        Frequency.WEEKLY.value,
        "--frequency",
        help="hang-tuan: the weekly digest (default); hang-ngay: the daily one.",
    ),
) -> None:
    """Build and start this period's digest (--now): weekly, or daily with --frequency."""
    if frequency not in DIGEST_FREQUENCIES:
        fail(
            f"--frequency {frequency!r}: a digest is hang-ngay (daily) or hang-tuan (weekly); "
            "ngay-khi-co subscribers get an alert per arrival of articles instead"
        )
    if not now:
        fail("say --now to build and start this period's digest now (beat does it on schedule)")
    with cli_runtime() as rt:
        outcome = send_digest_now(rt, frequency=Frequency(frequency))
    if isinstance(outcome, NoDigest):
        console.print(f"no digest: {outcome.message}", highlight=False)
        return
    console.print(f"digest #{outcome} started")
