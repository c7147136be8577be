"""Admin pages for bulletins and campaigns: compose, preview exactly as sent, test to
myself, send after a confirmation stating the number of residents, then watch live
progress and pause, resume, cancel or retry the failures.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.approval import ApprovalError
from newsletter.campaigns.build import CampaignError, create_bulletin
from newsletter.campaigns.preview import TEST_SUBJECT_PREFIX, composer_for, send_test
from newsletter.campaigns.targeting import campaign_targeting
from newsletter.content.categories import list_categories
from newsletter.delivery.transport import DeliveryError
from newsletter.mail.mime import HeaderInjectionError
from newsletter.mail.outgoing import Recipient
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber
from newsletter.subscribers.areas import list_areas
from newsletter.tasks.enqueue import control_campaign, send_bulletin_now
from newsletter.web.admin_approval import approval_context, campaign_history, official
from newsletter.web.admin_auth import AdminDep, ApproverDep, EditorDep, check_csrf
from newsletter.web.admin_pages import client_ip, page
from newsletter.web.deps import RuntimeDep, SessionDep, valid_row_id

router = APIRouter(prefix="/admin", include_in_schema=False)

PREVIEW_ADDRESS = "nguoi.nhan@example.vn"
ACTIONS = ("pause", "resume", "cancel", "retry-failed")


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id) if valid_row_id(campaign_id) else None
    if campaign is None:
        raise HTTPException(status_code=404, detail="no such campaign")
    return campaign


@router.get("/bulletins/new")
def new_bulletin(request: Request, admin: EditorDep, session: SessionDep) -> HTMLResponse:
    return page(
        request,
        "bulletin_new.html",
        {
            "admin": admin,
            "categories": list_categories(session),
            "areas": list_areas(session),
            "error": None,
            "form": {},
        },
    )


@router.post("/bulletins")
def create(
    request: Request,
    admin: EditorDep,
    session: SessionDep,
    subject: Annotated[str, Form(max_length=500)],
    body: Annotated[str, Form(max_length=200_000)],
    csrf: Annotated[str, Form()] = "",
    categories: Annotated[list[str] | None, Form()] = None,
    areas: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(admin, csrf)
    try:
        campaign = create_bulletin(
            session,
            subject=subject,
            body_markdown=body,
            category_slugs=categories or [],
            area_codes=areas or [],
            created_by=admin.username,
        )
        # An editor's bulletin waits for an approver (campaigns/approval.py).
        campaign.needs_approval = not official(admin).can_send
    except (CampaignError, ValueError) as exc:
        context = {
            "admin": admin,
            "categories": list_categories(session),
            "areas": list_areas(session),
            "error": str(exc),
            "form": {
                "subject": subject,
                "body": body,
                "categories": categories or [],
                "areas": areas or [],
            },
        }
        return page(request, "bulletin_new.html", context, status_code=422)
    record_audit(
        session,
        actor=admin.username,
        action="bulletin.drafted",
        target=f"campaign {campaign.id}",
        ip=client_ip(request),
    )
    return RedirectResponse(f"/admin/bulletins/{campaign.id}", status_code=303)


@router.get("/bulletins/{campaign_id}")
def preview(
    request: Request,
    campaign_id: int,
    admin: AdminDep,
    runtime: RuntimeDep,
    session: SessionDep,
    notice: str = "",
) -> HTMLResponse:
    """The message exactly as a resident gets it (their personal links aside)."""
    campaign = _campaign(session, campaign_id)
    composer = composer_for(session, runtime.settings, campaign_id)
    message = composer.compose(
        Recipient(delivery_id=0, subscriber_id=0, email=PREVIEW_ADDRESS, category_ids=frozenset())
    )
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    html_part = parsed.get_body(("html",))
    text_part = parsed.get_body(("plain",))
    return page(
        request,
        "bulletin_preview.html",
        {
            "admin": admin,
            "campaign": campaign,
            "headers": [(k, str(v)) for k, v in parsed.items()],
            "html": _content(html_part),
            "text": _content(text_part),
            "targeting": (targeting := campaign_targeting(session, campaign_id=campaign_id)),
            "recipients": targeting.recipients,
            "size": len(message.data),
            "notice": notice[:200],
            **approval_context(session, runtime.settings, campaign, admin),
        },
    )


def _content(part: object) -> str:
    return part.get_content() if isinstance(part, EmailMessage) else ""


@router.post("/bulletins/{campaign_id}/test")
def send_test_copy(
    request: Request,
    campaign_id: int,
    admin: EditorDep,
    runtime: RuntimeDep,
    address: Annotated[str, Form(max_length=320)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    try:
        send_test(runtime, campaign_id=campaign_id, address=address.strip())
    except (DeliveryError, HeaderInjectionError, ValueError) as exc:
        raise HTTPException(status_code=422, detail=f"test message not sent: {exc}") from exc
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=admin.username,
            action="bulletin.test_sent",
            target=f"campaign {campaign_id}",
            ip=client_ip(request),
        )
    with runtime.sessions() as session:
        subject = TEST_SUBJECT_PREFIX + _campaign(session, campaign_id).subject
    notice = urlencode({"notice": f"Test message sent to {address.strip()}: “{subject}”"})
    return RedirectResponse(f"/admin/bulletins/{campaign_id}?{notice}", status_code=303)


@router.post("/bulletins/{campaign_id}/send")
def send(
    request: Request,
    campaign_id: int,
    admin: ApproverDep,
    runtime: RuntimeDep,
    recipients: Annotated[int, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Start the bulletin, if the admin confirmed the number of residents shown to them."""
    check_csrf(admin, csrf)
    with runtime.sessions.begin() as session:
        campaign = _campaign(session, campaign_id)
        if campaign.status is not CampaignStatus.DRAFT:
            raise HTTPException(status_code=409, detail="this bulletin was already sent")
        targeting = campaign_targeting(session, campaign_id=campaign_id)
        now_count = targeting.recipients
    if now_count != recipients:
        notice = f"the number of recipients changed to {now_count}; confirm again"
        return RedirectResponse(
            f"/admin/bulletins/{campaign_id}?notice={notice.replace(' ', '+')}", status_code=303
        )
    try:
        send_bulletin_now(runtime, campaign_id=campaign_id, actor=official(admin))
    except LookupError as exc:  # not a bulletin
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ApprovalError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=admin.username,
            action="bulletin.sent",
            target=f"campaign {campaign_id}",
            detail=targeting.describe(),
            ip=client_ip(request),
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}", status_code=303)


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request, campaign_id: int, admin: AdminDep, session: SessionDep
) -> HTMLResponse:
    campaign = _campaign(session, campaign_id)
    failures = session.execute(
        select(Delivery.id, Subscriber.email, Delivery.status, Delivery.last_error)
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_([DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]),
        )
        .order_by(Delivery.id)
        .limit(200)
    ).all()
    return page(
        request,
        "campaign.html",
        {
            "admin": admin,
            "campaign": campaign,
            "progress": campaign_control.progress(session, campaign_id=campaign_id),
            "failures": failures,
            "history": campaign_history(session, campaign_id),
        },
    )


@router.get("/campaigns/{campaign_id}/progress.json")
def campaign_progress(campaign_id: int, admin: AdminDep, session: SessionDep) -> JSONResponse:
    _campaign(session, campaign_id)
    return JSONResponse(campaign_control.progress(session, campaign_id=campaign_id).as_json())


@router.post("/campaigns/{campaign_id}/{action}")
def control(
    request: Request,
    campaign_id: int,
    action: str,
    admin: ApproverDep,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(admin, csrf)
    if action not in ACTIONS or not valid_row_id(campaign_id):
        raise HTTPException(status_code=404, detail="unknown action")
    try:
        control_campaign(runtime, campaign_id=campaign_id, action=action)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail="no such campaign") from exc
    except campaign_control.CampaignStateError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=admin.username,
            action=f"campaign.{action}",
            target=f"campaign {campaign_id}",
            ip=client_ip(request),
        )
    return RedirectResponse(f"/admin/campaigns/{campaign_id}", status_code=303)
