"""`/api/v1` bulletins and campaigns: send an urgent bulletin from a script or the CMS,
follow its progress, pause, resume, cancel or retry the failures."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from newsletter.accounts.audit import record_audit
from newsletter.accounts.roles import Scope
from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.approval import Actor, ApprovalError, send_blocker
from newsletter.campaigns.build import CampaignError, create_bulletin
from newsletter.campaigns.preview import send_test
from newsletter.campaigns.schedule import ScheduleError, check_send_at, schedule
from newsletter.campaigns.targeting import campaign_targeting
from newsletter.delivery.transport import DeliveryError
from newsletter.mail.mime import HeaderInjectionError
from newsletter.tasks.enqueue import control_campaign, send_bulletin_now
from newsletter.web.api import IsoDateTime, Problem, api_router
from newsletter.web.api_auth import DraftCallerDep, ReadScope, SendCallerDep
from newsletter.web.deps import RuntimeDep, SettingsDep, valid_row_id

router = api_router()


class BulletinIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str = Field(min_length=1, max_length=200, examples=["Thông báo cắt nước khẩn cấp"])
    body_markdown: str = Field(
        min_length=1,
        max_length=200_000,
        examples=["Do sự cố đường ống, **Phường Hòa Bình** tạm ngừng cấp nước từ 14:00 hôm nay."],
    )
    categories: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]] = Field(
        default_factory=list, max_length=100, description="Category slugs; empty: every subscriber."
    )
    areas: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]] = Field(
        default_factory=list,
        max_length=100,
        description="Area codes; empty: every area. Residents of these areas (and of the "
        "areas inside and around them) and residents who chose no area receive it.",
    )
    test_to: str | None = Field(
        default=None, max_length=320, description="Send one copy here first (outside the ledger)."
    )
    send: bool = Field(default=True, description="False: keep it as a draft to review.")
    send_at: IsoDateTime | None = Field(
        default=None,
        strict=False,  # JSON has no date type: the ISO 8601 text is parsed
        description="Start at this time (ISO 8601; without an offset: NEWSLETTER_TIMEZONE), "
        "at most 30 days ahead, instead of now.",
        examples=["2026-12-05T08:00:00+07:00"],
    )

    @field_validator("subject", "body_markdown", "test_to")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; no honest bulletin contains one.
        if value is None:
            return value
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
        return value


class BulletinOut(BaseModel):
    id: int
    status: str = Field(
        description="sending | scheduled | draft | awaiting_approval (an approver must "
        "approve or send it: see `note`)"
    )
    recipients: int
    categories: list[str] = Field(default_factory=list, description="Category slugs targeted")
    areas: list[str] = Field(default_factory=list, description="Area codes targeted")
    send_at: dt.datetime | None = None
    note: str | None = Field(default=None, description="Why it waits, when it does")


@router.post(
    "/bulletins",
    tags=["bulletins"],
    response_model=BulletinOut,
    status_code=201,
    responses={400: {"model": Problem, "description": "The body is not JSON"}},
)
def post_bulletin(
    body: BulletinIn, runtime: RuntimeDep, caller: DraftCallerDep, settings: SettingsDep
) -> BulletinOut:
    """Create an urgent bulletin and, unless `send` is false, start it now or at `send_at`.

    The two-officials rule applies (docs/admin.md "Roles and approval"): a token without
    the `bulletins:send` scope, or a bulletin over NEWSLETTER_APPROVAL_THRESHOLD
    recipients, waits for an approver (`awaiting_approval`, or `scheduled` with a `note`).
    """
    actor = Actor(name=caller.actor, can_send=Scope.BULLETINS_SEND in caller.scopes)
    send_at = None
    if body.send_at is not None:
        try:
            send_at = check_send_at(
                body.send_at, now=dt.datetime.now(dt.UTC), timezone=settings.timezone
            )
        except ScheduleError as exc:
            raise HTTPException(422, detail=str(exc)) from exc
    with runtime.sessions.begin() as session:
        try:
            campaign = create_bulletin(
                session,
                subject=body.subject,
                body_markdown=body.body_markdown,
                category_slugs=body.categories,
                area_codes=body.areas,
                created_by=actor.name,
            )
        except (CampaignError, ValueError) as exc:
            raise HTTPException(422, detail=str(exc)) from exc
        campaign.needs_approval = not actor.can_send
        campaign_id = campaign.id
        targeting = campaign_targeting(session, campaign_id=campaign_id)
        recipients = targeting.recipients
        record_audit(
            session,
            actor=actor.name,
            action="bulletin.drafted",
            target=f"campaign {campaign_id}",
            detail=targeting.describe(),
        )
        threshold = settings.approval_threshold
        blocker = send_blocker(
            campaign, recipients=recipients, threshold=threshold, sender=actor.name
        )
        if send_at is not None and body.send:
            schedule(
                session,
                campaign_id=campaign_id,
                send_at=send_at,
                actor=actor.name,
                timezone=settings.timezone,
            )
    if body.test_to:
        try:
            send_test(runtime, campaign_id=campaign_id, address=body.test_to)
        except (DeliveryError, HeaderInjectionError, ValueError) as exc:
            raise HTTPException(422, detail=f"test message not sent: {exc}") from exc
    out = BulletinOut(
        id=campaign_id,
        status="draft",
        recipients=recipients,
        categories=[slug for slug, _ in targeting.categories],
        areas=[code for code, _ in targeting.areas],
    )
    if not body.send:
        return out
    if send_at is not None:
        note = f"it will not start unless approved before its time: {blocker}" if blocker else None
        return out.model_copy(update={"status": "scheduled", "send_at": send_at, "note": note})
    if blocker is None and actor.can_send:
        try:
            send_bulletin_now(runtime, campaign_id=campaign_id, actor=actor)
        except ApprovalError as exc:  # changed meanwhile (another caller's edit)
            blocker = str(exc)
        else:
            with runtime.sessions.begin() as session:
                record_audit(
                    session,
                    actor=actor.name,
                    action="bulletin.sent",
                    target=f"campaign {campaign_id}",
                    detail=targeting.describe(),
                )
            return out.model_copy(update={"status": "sending"})
    note = blocker or "this token may only draft (scope bulletins:draft): an approver sends it"
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=actor.name,
            action="bulletin.awaiting_approval",
            target=f"campaign {campaign_id}",
            detail=note,
        )
    return out.model_copy(update={"status": "awaiting_approval", "note": note})


# The API answers campaign_control.Progress itself (a dataclass FastAPI can serialise),
# so the wire format cannot drift from what the CLI and the admin pages show.
ProgressOut = campaign_control.Progress


@router.get(
    "/campaigns", tags=["campaigns"], response_model=list[ProgressOut], dependencies=[ReadScope]
)
def list_campaigns(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ProgressOut]:
    """The newest campaigns with their progress."""
    with runtime.sessions.begin() as session:
        return [
            campaign_control.progress(session, campaign_id=c.id)
            for c in campaign_control.list_campaigns(session, limit=limit)
        ]


@router.get(
    "/campaigns/{campaign_id}",
    tags=["campaigns"],
    response_model=ProgressOut,
    responses={404: {"model": Problem, "description": "No such campaign"}},
    dependencies=[ReadScope],
)
def get_campaign(campaign_id: int, runtime: RuntimeDep) -> ProgressOut:
    """Live progress of one campaign, counted from the delivery ledger."""
    if not valid_row_id(campaign_id):
        raise HTTPException(404, detail="no such campaign")
    with runtime.sessions.begin() as session:
        try:
            return campaign_control.progress(session, campaign_id=campaign_id)
        except LookupError as exc:
            raise HTTPException(404, detail="no such campaign") from exc


class ActionOut(BaseModel):
    id: int
    action: str
    count: int = Field(
        description="Batches queued (resume, retry-failed) or messages dropped (cancel)."
    )


@router.post(
    "/campaigns/{campaign_id}/{action}",
    tags=["campaigns"],
    response_model=ActionOut,
    responses={
        404: {"model": Problem, "description": "No such campaign"},
        409: {"model": Problem, "description": "The campaign is not in a state for this action"},
    },
)
def campaign_action(
    campaign_id: int,
    action: Literal["pause", "resume", "cancel", "retry-failed"],
    runtime: RuntimeDep,
    caller: SendCallerDep,
) -> ActionOut:
    """Pause, resume, cancel a campaign, or queue its failed messages again."""
    if not valid_row_id(campaign_id):
        raise HTTPException(404, detail="no such campaign")
    try:
        count = control_campaign(runtime, campaign_id=campaign_id, action=action)
    except LookupError as exc:
        raise HTTPException(404, detail="no such campaign") from exc
    except campaign_control.CampaignStateError as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=caller.actor,
            action=f"campaign.{action}",
            target=f"campaign {campaign_id}",
        )
    return ActionOut(id=campaign_id, action=action, count=count)
