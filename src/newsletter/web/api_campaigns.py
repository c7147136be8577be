"""`/api/v1` bulletins and campaigns: send an urgent bulletin from a script or the CMS,
follow its progress, pause, resume, cancel or retry the failures."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from newsletter.accounts.audit import record_audit
from newsletter.campaigns import control as campaign_control
from newsletter.campaigns.build import CampaignError, create_bulletin
from newsletter.campaigns.preview import send_test
from newsletter.campaigns.targeting import campaign_targeting
from newsletter.delivery.transport import DeliveryError
from newsletter.mail.mime import HeaderInjectionError
from newsletter.tasks.enqueue import control_campaign, start_campaign_now
from newsletter.web.api import Problem, api_router
from newsletter.web.api_auth import ApiCallerDep
from newsletter.web.deps import RuntimeDep, valid_row_id

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
    status: str
    recipients: int
    categories: list[str] = Field(default_factory=list, description="Category slugs targeted")
    areas: list[str] = Field(default_factory=list, description="Area codes targeted")


@router.post(
    "/bulletins",
    tags=["bulletins"],
    response_model=BulletinOut,
    status_code=201,
    responses={400: {"model": Problem, "description": "The body is not JSON"}},
)
def post_bulletin(body: BulletinIn, runtime: RuntimeDep, caller: ApiCallerDep) -> BulletinOut:
    """Create an urgent bulletin and, unless `send` is false, start sending it now."""
    actor = f"api:{caller.name}"
    with runtime.sessions.begin() as session:
        try:
            campaign = create_bulletin(
                session,
                subject=body.subject,
                body_markdown=body.body_markdown,
                category_slugs=body.categories,
                area_codes=body.areas,
                created_by=actor,
            )
        except (CampaignError, ValueError) as exc:
            raise HTTPException(422, detail=str(exc)) from exc
        campaign_id = campaign.id
        targeting = campaign_targeting(session, campaign_id=campaign_id)
        recipients = targeting.recipients
    if body.test_to:
        try:
            send_test(runtime, campaign_id=campaign_id, address=body.test_to)
        except (DeliveryError, HeaderInjectionError, ValueError) as exc:
            raise HTTPException(422, detail=f"test message not sent: {exc}") from exc
    status = "draft"
    if body.send:
        start_campaign_now(runtime, campaign_id=campaign_id)
        status = "sending"
    with runtime.sessions.begin() as session:
        record_audit(
            session,
            actor=actor,
            action="bulletin.sent" if body.send else "bulletin.drafted",
            target=f"campaign {campaign_id}",
            detail=targeting.describe(),
        )
    return BulletinOut(
        id=campaign_id,
        status=status,
        recipients=recipients,
        categories=[slug for slug, _ in targeting.categories],
        areas=[code for code, _ in targeting.areas],
    )


# The API answers campaign_control.Progress itself (a dataclass FastAPI can serialise),
# so the wire format cannot drift from what the CLI and the admin pages show.
ProgressOut = campaign_control.Progress


@router.get("/campaigns", tags=["campaigns"], response_model=list[ProgressOut])
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
    caller: ApiCallerDep,
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
            actor=f"api:{caller.name}",
            action=f"campaign.{action}",
            target=f"campaign {campaign_id}",
        )
    return ActionOut(id=campaign_id, action=action, count=count)
