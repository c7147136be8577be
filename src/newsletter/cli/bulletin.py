"""`newsletter bulletin send`: an urgent bulletin to every subscriber of its categories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.accounts.audit import record_audit
from newsletter.campaigns.build import CampaignError, create_bulletin
from newsletter.campaigns.targeting import campaign_targeting
from newsletter.cli.common import cli_runtime, fail
from newsletter.models import Campaign, CampaignStatus
from newsletter.tasks.enqueue import start_campaign_now

app = typer.Typer(help="Urgent bulletins.", no_args_is_help=True)


@app.command()
def send(
    subject: Annotated[str, typer.Option("--subject", help="Subject line (Vietnamese is fine).")],
    body_file: Annotated[
        Path,
        typer.Option(
            "--body-file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The body in Markdown (plain text is fine too).",
        ),
    ],
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category", help="Category slug; repeat for several (none: every subscriber)."
        ),
    ] = None,
    area: Annotated[
        list[str] | None,
        typer.Option(
            "--area",
            help="Area code; repeat for several. Residents of those areas (and of the areas "
            "inside and around them) and residents with no area receive it (none: everyone).",
        ),
    ] = None,
    test_to: str | None = typer.Option(
        None, "--test-to", help="First send one copy to this address only."
    ),
    yes: bool = typer.Option(False, "--yes", help="Send without asking for confirmation."),
) -> None:
    """Send a bulletin on the urgent queue; prints the campaign id."""
    try:
        body = body_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{body_file} is not UTF-8 text")
    with cli_runtime() as rt:
        with rt.sessions.begin() as session:
            try:
                campaign = create_bulletin(
                    session,
                    subject=subject,
                    body_markdown=body,
                    category_slugs=category or [],
                    area_codes=area or [],
                    created_by="cli",
                )
            except (CampaignError, ValueError) as exc:
                fail(str(exc))
            campaign_id = campaign.id
            subject = campaign.subject  # as stored (trimmed, normalised)
        if test_to:
            # Only a test send composes and needs SMTP.
            from newsletter.campaigns.preview import TEST_SUBJECT_PREFIX, send_test
            from newsletter.delivery.transport import DeliveryError

            try:
                send_test(rt, campaign_id=campaign_id, address=test_to)
            except (DeliveryError, ValueError) as exc:
                fail(f"test message to {test_to} failed: {exc}")
            typer.echo(
                f'test message sent to {test_to}, subject "{TEST_SUBJECT_PREFIX}{subject}"',
                err=True,
            )
        if not yes:
            # Counting reads the subscribers table; with --yes no one reads the answer, and
            # the ledger's own count (below) is the truth anyway.
            with rt.sessions() as session:
                targeting = campaign_targeting(session, campaign_id=campaign_id)
            question = (
                f"Send bulletin #{campaign_id} to {targeting.recipients} resident(s) now? "
                f"({targeting.describe()})"
            )
            if not typer.confirm(question, err=True):
                with rt.sessions.begin() as session:
                    draft = session.get(Campaign, campaign_id)
                    assert draft is not None
                    draft.status = CampaignStatus.CANCELLED
                fail(f"not sent; bulletin #{campaign_id} cancelled")
        work = start_campaign_now(rt, campaign_id=campaign_id)
        with rt.sessions.begin() as session:
            started = session.get(Campaign, campaign_id)
            assert started is not None
            targeting = campaign_targeting(
                session, campaign_id=campaign_id, recipients=started.total_count
            )
            record_audit(
                session,
                actor="cli",
                action="bulletin.sent",
                target=f"campaign {campaign_id}",
                detail=targeting.describe(),
            )
        typer.echo(
            f"bulletin #{campaign_id} started: {len(work.ranges)} batches queued; "
            f"follow it with `newsletter campaigns show {campaign_id}`",
            err=True,
        )
    print(campaign_id)
