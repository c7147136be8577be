"""The public archive: every digest and bulletin that went out, as web pages.

The archive copy is rendered from the same templates as the mail, for every category
and without personal links (no unsubscribe or preferences tokens).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from newsletter.campaigns.preview import composer_for_campaign
from newsletter.mail.environment import create_environment
from newsletter.models import Campaign, CampaignStatus
from newsletter.web.deps import SessionDep, SettingsDep

router = APIRouter(tags=["archive"])

# A campaign is public once it started going out: its mails link here while sending.
PUBLIC_STATUSES = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT)
PAGE_SIZE = 50
# campaigns.id is a 32-bit INTEGER: a larger id names nothing (and would overflow the driver).
MAX_CAMPAIGN_ID = 2**31 - 1


def _published(campaign: Campaign) -> Any:
    return campaign.started_at or campaign.created_at


@router.get("/archive", response_class=HTMLResponse)
def archive_index(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    page: int = Query(default=1, ge=1, le=10_000),
) -> HTMLResponse:
    when = func.coalesce(Campaign.started_at, Campaign.created_at)
    campaigns = list(
        session.scalars(
            select(Campaign)
            .where(Campaign.status.in_(PUBLIC_STATUSES))
            .order_by(when.desc(), Campaign.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    env = create_environment(settings)
    html = env.get_template("web/archive.html").render(
        campaigns=[(c, _published(c)) for c in campaigns[:PAGE_SIZE]],
        page=page,
        has_next=len(campaigns) > PAGE_SIZE,
    )
    return HTMLResponse(html)


@router.get(
    "/archive/{campaign_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such campaign, or it has not gone out"}},
)
def archive_copy(campaign_id: int, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    campaign = session.get(Campaign, campaign_id) if 0 < campaign_id <= MAX_CAMPAIGN_ID else None
    if campaign is None or campaign.status not in PUBLIC_STATUSES:
        raise HTTPException(status_code=404, detail="Không tìm thấy bản tin này.")
    composer = composer_for_campaign(session, settings, campaign, signer=None)
    return HTMLResponse(composer.archive_html())
