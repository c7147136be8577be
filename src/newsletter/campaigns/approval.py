"""Two officials: who may send a bulletin, and when a second official must approve it.

- A bulletin to more residents than NEWSLETTER_APPROVAL_THRESHOLD needs the approval of
  an approver other than its author (the official's name, `api:TOKEN`, or `cli`) before
  it is sent, by hand or at its scheduled time.
- A bulletin written by someone who may not send (an editor, a `bulletins:draft` token)
  is marked `needs_approval`: an approver sends it (their send is the second look), and
  over the threshold it needs the approval like any other.
- An approver may send an over-threshold bulletin alone in an emergency, giving a reason
  (kept on the campaign and in the audit trail, shown on the dashboard).
- Editing a bulletin after its approval withdraws the approval.

Functions take a session and leave the commit to the caller; refusals are ApprovalError
with an English sentence for the admin, the API and the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.campaigns.audience import count_eligible
from newsletter.models import Campaign, CampaignKind, CampaignStatus, utcnow

MAX_REASON_CHARS = 1000


class ApprovalError(ValueError):
    """The bulletin cannot be approved or sent now; the message says why and what to do."""


@dataclass(frozen=True)
class Actor:
    """Who acts: an official's name, `api:NAME` for a token, or `cli`; and whether their
    role or scopes let them send (approver and up, `bulletins:send`)."""

    name: str
    can_send: bool


def draft_bulletin(session: Session, campaign_id: int) -> Campaign:
    """The bulletin, locked for the change; ApprovalError once it is no longer a draft."""
    campaign = session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.kind is not CampaignKind.BULLETIN:
        raise LookupError(f"no bulletin #{campaign_id}")
    if campaign.status is not CampaignStatus.DRAFT:
        raise ApprovalError(
            f"bulletin #{campaign_id} is already {campaign.status.value}; only a draft changes"
        )
    return campaign


def send_blocker(campaign: Campaign, *, recipients: int, threshold: int, sender: str) -> str | None:
    """Why `sender` (who may send) cannot send this bulletin now; None when they can."""
    if campaign.approved_by is not None:
        return None
    if recipients > threshold:
        return (
            f"bulletin #{campaign.id} goes to {recipients} residents, over the approval "
            f"threshold of {threshold}: an approver other than its author "
            f"({campaign.created_by}) must approve it first, or an approver sends it as an "
            "emergency with a reason"
        )
    if campaign.needs_approval and sender == campaign.created_by:
        return (
            f"bulletin #{campaign.id} was written without the right to send: an approver sends it"
        )
    return None


def approve(
    session: Session, *, campaign_id: int, actor: Actor, now: dt.datetime | None = None
) -> Campaign:
    """Approve the bulletin's current text as `actor`: an approver, not its author."""
    campaign = draft_bulletin(session, campaign_id)
    if not actor.can_send:
        raise ApprovalError("approving needs the approver role (or the bulletins:send scope)")
    if actor.name == campaign.created_by:
        raise ApprovalError(
            f"you wrote bulletin #{campaign_id}: a second official must approve it, not its author"
        )
    if campaign.approved_by is not None:
        raise ApprovalError(
            f"bulletin #{campaign_id} is already approved by {campaign.approved_by}"
        )
    campaign.approved_by = actor.name
    campaign.approved_at = now or utcnow()
    record_audit(
        session,
        actor=actor.name,
        action="bulletin.approved",
        target=f"campaign {campaign_id}",
        detail=f"{count_eligible(session, campaign_id=campaign_id)} recipients",
    )
    return campaign


def withdraw_approval(session: Session, campaign: Campaign, *, actor: str, why: str) -> bool:
    """Clear an approval (after an edit); audited. Whether there was one."""
    if campaign.approved_by is None:
        return False
    record_audit(
        session,
        actor=actor,
        action="bulletin.approval_withdrawn",
        target=f"campaign {campaign.id}",
        detail=f"approval by {campaign.approved_by} withdrawn: {why}",
    )
    campaign.approved_by = None
    campaign.approved_at = None
    return True


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise ApprovalError("an emergency send needs a reason: say why it cannot wait")
    if len(text) > MAX_REASON_CHARS:
        raise ApprovalError(f"the reason is longer than {MAX_REASON_CHARS} characters")
    return text


def check_send(
    session: Session,
    *,
    campaign_id: int,
    actor: Actor,
    threshold: int,
    emergency_reason: str | None = None,
) -> int:
    """May `actor` start this draft now? The recipient count if so; ApprovalError if not.

    With `emergency_reason` an approver sends without the second official: the reason is
    stored on the campaign (the caller's transaction) and audited.
    """
    campaign = draft_bulletin(session, campaign_id)
    if not actor.can_send:
        raise ApprovalError(
            "sending needs the approver role (or the bulletins:send scope): "
            "the bulletin waits for an approver"
        )
    recipients = count_eligible(session, campaign_id=campaign_id)
    if emergency_reason is not None:
        reason = clean_reason(emergency_reason)
        campaign.emergency_reason = reason
        campaign.emergency_by = actor.name
        record_audit(
            session,
            actor=actor.name,
            action="bulletin.emergency_sent",
            target=f"campaign {campaign_id}",
            detail=f"{recipients} recipients; reason: {reason}",
        )
        return recipients
    blocker = send_blocker(campaign, recipients=recipients, threshold=threshold, sender=actor.name)
    if blocker is not None:
        raise ApprovalError(blocker)
    return recipients


def draft_bulletins(session: Session, *, limit: int = 50) -> list[Campaign]:
    """Bulletins not sent yet, newest first (the dashboard shows who must act on each)."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.kind == CampaignKind.BULLETIN, Campaign.status == CampaignStatus.DRAFT)
            .order_by(Campaign.id.desc())
            .limit(limit)
        )
    )


def emergency_sends(session: Session, *, limit: int = 10) -> list[Campaign]:
    """Bulletins an approver sent alone, newest first, with their reasons."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.emergency_reason.is_not(None))
            .order_by(Campaign.id.desc())
            .limit(limit)
        )
    )
