"""`newsletter bulletin send`: an urgent bulletin to every subscriber of its categories."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from newsletter.accounts.audit import record_audit
from newsletter.campaigns.approval import Actor, ApprovalError, send_blocker
from newsletter.campaigns.audience import count_eligible
from newsletter.campaigns.build import CampaignError, create_bulletin
from newsletter.campaigns.targeting import campaign_targeting
from newsletter.cli.common import cli_runtime, fail
from newsletter.models import Campaign, CampaignStatus
from newsletter.runtime import Runtime
from newsletter.tasks.enqueue import send_bulletin_now

app = typer.Typer(help="Urgent bulletins.", no_args_is_help=True)

# The command line is the operator's console (who runs it can read the settings and the
# database): it may send, but the two-officials rule binds it like anyone (author `cli`).
CLI = Actor(name="cli", can_send=True)
WAITS_FOR_APPROVAL = 3  # exit code: the draft was kept for a second official


def _check_send_at(text: str, timezone: str) -> dt.datetime:
    """The --send-at time in UTC, checked before anything is stored."""
    from newsletter.campaigns.schedule import ScheduleError, check_send_at, parse_send_at

    try:
        return check_send_at(
            parse_send_at(text, timezone=timezone), now=dt.datetime.now(dt.UTC), timezone=timezone
        )
    except ScheduleError as exc:
        fail(str(exc))


def _schedule(rt: Runtime, *, campaign_id: int, when: dt.datetime) -> None:
    from newsletter.campaigns.schedule import ScheduleError, schedule

    timezone = rt.settings.timezone
    with rt.sessions.begin() as session:
        try:
            campaign = schedule(
                session, campaign_id=campaign_id, send_at=when, actor=CLI.name, timezone=timezone
            )
        except ScheduleError as exc:
            fail(str(exc))
        blocker = send_blocker(
            campaign,
            recipients=count_eligible(session, campaign_id=campaign_id),
            threshold=rt.settings.approval_threshold,
            sender=CLI.name,
        )
    local = when.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    typer.echo(f"bulletin #{campaign_id} scheduled for {local} ({timezone})", err=True)
    if blocker:
        typer.echo(f"warning: it will not start unless approved before then: {blocker}", err=True)


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
    send_at: str | None = typer.Option(
        None,
        "--send-at",
        help="Start at this time instead of now: YYYY-MM-DDTHH:MM in NEWSLETTER_TIMEZONE, "
        "or ISO 8601 with an offset; at most 30 days ahead.",
    ),
    emergency_reason: str | None = typer.Option(
        None,
        "--emergency-reason",
        help="Over NEWSLETTER_APPROVAL_THRESHOLD recipients: send without a second "
        "official's approval, for this reason (kept in the audit trail).",
    ),
) -> None:
    """Send a bulletin on the urgent queue; prints the campaign id.

    Over NEWSLETTER_APPROVAL_THRESHOLD recipients it needs a second official: the draft
    is kept for an approver in the admin (exit code 3), unless --emergency-reason is given.
    """
    try:
        body = body_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{body_file} is not UTF-8 text")
    if emergency_reason is not None and not emergency_reason.strip():
        fail("--emergency-reason must say why the bulletin cannot wait")
    with cli_runtime() as rt:
        when = _check_send_at(send_at, rt.settings.timezone) if send_at else None
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
        if when is not None:
            _schedule(rt, campaign_id=campaign_id, when=when)
            print(campaign_id)
            return
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
        try:
            work = send_bulletin_now(
                rt, campaign_id=campaign_id, actor=CLI, emergency_reason=emergency_reason
            )
        except ApprovalError as exc:
            print(campaign_id)
            fail(
                f"not sent: {exc}. The draft waits in the admin: "
                f"{rt.settings.public_link(f'/admin/bulletins/{campaign_id}')}",
                code=WAITS_FOR_APPROVAL,
            )
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
