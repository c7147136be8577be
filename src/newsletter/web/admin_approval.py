"""Admin pages of the two-officials rule and of sending at a set time: approve, send in
an emergency with a reason, schedule, unschedule, and edit a draft (which withdraws its
approval). The rules themselves are in campaigns/approval.py and campaigns/schedule.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.roles import Role
from newsletter.campaigns import schedule as schedules
from newsletter.campaigns.approval import (
    Actor,
    ApprovalError,
    approve,
    draft_bulletins,
    emergency_sends,
    send_blocker,
)
from newsletter.campaigns.audience import count_eligible
from newsletter.campaigns.build import CampaignError
from newsletter.campaigns.editing import edit_bulletin
from newsletter.config import Settings
from newsletter.content.categories import list_categories
from newsletter.models import AuditEvent, Campaign, CampaignKind, CampaignStatus
from newsletter.tasks.enqueue import send_bulletin_now
from newsletter.web.admin_auth import AdminContext, ApproverDep, EditorDep, check_csrf
from newsletter.web.admin_pages import page
from newsletter.web.deps import RuntimeDep, SessionDep, SettingsDep, valid_row_id

router = APIRouter(prefix="/admin", include_in_schema=False)


def official(admin: AdminContext) -> Actor:
    return Actor(name=admin.username, can_send=admin.can(Role.APPROVER))


def local_time(settings: Settings, moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def approval_context(
    session: Session, settings: Settings, campaign: Campaign, admin: AdminContext
) -> dict[str, Any]:
    """What the bulletin page shows about approval and schedule, for this official."""
    recipients = count_eligible(session, campaign_id=campaign.id)
    now = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(settings.timezone))
    return {
        "threshold": settings.approval_threshold,
        "over_threshold": recipients > settings.approval_threshold,
        "blocker": send_blocker(
            campaign,
            recipients=recipients,
            threshold=settings.approval_threshold,
            sender=admin.username,
        ),
        "is_author": campaign.created_by == admin.username,
        "can_send": admin.can(Role.APPROVER),
        "can_edit": admin.can(Role.EDITOR),
        "send_at_local": local_time(settings, campaign.send_at),
        "approved_at_local": local_time(settings, campaign.approved_at),
        "timezone": settings.timezone,
        "schedule_min": now.strftime("%Y-%m-%dT%H:%M"),
        "schedule_max": (now + schedules.MAX_AHEAD).strftime("%Y-%m-%dT%H:%M"),
        "history": campaign_history(session, campaign.id),
    }


def campaign_history(session: Session, campaign_id: int) -> list[AuditEvent]:
    """The campaign's steps in the audit trail, oldest first (who, when, what)."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == f"campaign {campaign_id}")
            .order_by(AuditEvent.id)
        )
    )


def _back(campaign_id: int, notice: str) -> Response:
    query = urlencode({"notice": notice[:200]})
    return RedirectResponse(f"/admin/bulletins/{campaign_id}?{query}", status_code=303)


def _check_id(campaign_id: int) -> None:
    if not valid_row_id(campaign_id):
        raise HTTPException(status_code=404, detail="no such bulletin")


@router.post("/bulletins/{campaign_id}/approve")
def approve_bulletin(
    request: Request,
    campaign_id: int,
    admin: ApproverDep,
    session: SessionDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    _check_id(campaign_id)
    try:
        approve(session, campaign_id=campaign_id, actor=official(admin))
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ApprovalError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _back(campaign_id, f"Approved by {admin.username}: it can now be sent.")


@router.post("/bulletins/{campaign_id}/emergency")
def emergency_send(
    request: Request,
    campaign_id: int,
    admin: ApproverDep,
    runtime: RuntimeDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Send now without a second official; the reason is required, stored and audited."""
    check_csrf(admin, csrf)
    _check_id(campaign_id)
    if not reason.strip():
        raise HTTPException(
            status_code=422, detail="an emergency send needs a reason: say why it cannot wait"
        )
    try:
        send_bulletin_now(
            runtime, campaign_id=campaign_id, actor=official(admin), emergency_reason=reason
        )
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ApprovalError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return RedirectResponse(f"/admin/campaigns/{campaign_id}", status_code=303)


@router.post("/bulletins/{campaign_id}/schedule")
def schedule_bulletin(
    request: Request,
    campaign_id: int,
    admin: ApproverDep,
    session: SessionDep,
    settings: SettingsDep,
    send_at: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Start the draft at a local date and time (NEWSLETTER_TIMEZONE)."""
    check_csrf(admin, csrf)
    _check_id(campaign_id)
    try:
        when = schedules.parse_send_at(send_at, timezone=settings.timezone)
        campaign = schedules.schedule(
            session,
            campaign_id=campaign_id,
            send_at=when,
            actor=admin.username,
            timezone=settings.timezone,
        )
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except schedules.ScheduleError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    notice = f"Scheduled for {local_time(settings, campaign.send_at)} ({settings.timezone})."
    return _back(campaign_id, notice)


@router.post("/bulletins/{campaign_id}/unschedule")
def unschedule_bulletin(
    request: Request,
    campaign_id: int,
    admin: ApproverDep,
    session: SessionDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    _check_id(campaign_id)
    try:
        schedules.unschedule(session, campaign_id=campaign_id, actor=admin.username)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except schedules.ScheduleError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _back(campaign_id, "Taken off the schedule; it stays a draft.")


def _draft(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id) if valid_row_id(campaign_id) else None
    if campaign is None or campaign.kind is not CampaignKind.BULLETIN:
        raise HTTPException(status_code=404, detail="no such bulletin")
    if campaign.status is not CampaignStatus.DRAFT:
        raise HTTPException(status_code=409, detail="only a draft bulletin can be edited")
    return campaign


@router.get("/bulletins/{campaign_id}/edit")
def edit_form(
    request: Request, campaign_id: int, admin: EditorDep, session: SessionDep
) -> HTMLResponse:
    campaign = _draft(session, campaign_id)
    form = {
        "subject": campaign.subject,
        "body": campaign.body_markdown or "",
        "categories": [c.slug for c in campaign.categories],
    }
    context = {
        "admin": admin,
        "categories": list_categories(session),
        "error": None,
        "form": form,
        "action": f"/admin/bulletins/{campaign_id}/edit",
        "approved_by": campaign.approved_by,
    }
    return page(request, "bulletin_new.html", context)


@router.post("/bulletins/{campaign_id}/edit")
def edit(
    request: Request,
    campaign_id: int,
    admin: EditorDep,
    session: SessionDep,
    subject: Annotated[str, Form(max_length=500)],
    body: Annotated[str, Form(max_length=200_000)],
    csrf: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(admin, csrf)
    campaign = _draft(session, campaign_id)
    was_approved = campaign.approved_by is not None
    try:
        with session.begin_nested():
            edit_bulletin(
                session,
                campaign_id=campaign_id,
                subject=subject,
                body_markdown=body,
                category_slugs=categories or [],
                actor=admin.username,
            )
    except ApprovalError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except (CampaignError, ValueError) as exc:
        context = {
            "admin": admin,
            "categories": list_categories(session),
            "error": str(exc),
            "form": {"subject": subject, "body": body, "categories": categories or []},
            "action": f"/admin/bulletins/{campaign_id}/edit",
        }
        return page(request, "bulletin_new.html", context, status_code=422)
    withdrawn = " The approval was withdrawn: it needs approving again." if was_approved else ""
    notice = "Saved." + withdrawn
    return _back(campaign_id, notice)


def dashboard_context(session: Session, settings: Settings) -> dict[str, Any]:
    """The dashboard's bulletins: scheduled (and why one did not start), drafts waiting for
    an official, and emergency sends with their reasons."""
    drafts: list[dict[str, Any]] = []
    for campaign in draft_bulletins(session, limit=20):
        recipients = count_eligible(session, campaign_id=campaign.id)
        drafts.append(
            {
                "campaign": campaign,
                "recipients": recipients,
                "blocker": send_blocker(
                    campaign,
                    recipients=recipients,
                    threshold=settings.approval_threshold,
                    sender=campaign.scheduled_by or "",
                ),
                "send_at": local_time(settings, campaign.send_at),
            }
        )
    return {
        "bulletin_drafts": drafts,
        "scheduled": [row for row in drafts if row["campaign"].send_at is not None],
        "emergencies": emergency_sends(session),
        "timezone": settings.timezone,
    }
