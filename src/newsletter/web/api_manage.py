"""`/api/v1` routes for management: bounces, stats, subscribers (bearer token required)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from newsletter.accounts.roles import Scope
from newsletter.bounces.intake import MAX_BOUNCE_BYTES
from newsletter.bounces.parse import parse_report
from newsletter.bounces.rules import apply_report
from newsletter.models import Frequency, Subscriber
from newsletter.ops.dashboard import subscriber_overview
from newsletter.subscribers.frequency import count_by_frequency
from newsletter.subscribers.roster import search_subscribers, subscriber_stats
from newsletter.web.api import api_router
from newsletter.web.api_auth import ReadScope, require_scope
from newsletter.web.deps import SessionDep, SettingsDep

router = api_router()


class BounceOut(BaseModel):
    action: str
    reason: str
    delivery_id: int | None = None


@router.post(
    "/bounces",
    tags=["bounces"],
    response_model=BounceOut,
    # Delivery feedback belongs to the sending side (docs/security.md "Scopes").
    dependencies=[Depends(require_scope(Scope.BULLETINS_SEND))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
            "description": "One raw bounce (RFC 3464 DSN), complaint (RFC 5965 ARF) or "
            "provider bounce message, exactly as received.",
        }
    },
)
async def post_bounce(request: Request, session: SessionDep, settings: SettingsDep) -> BounceOut:
    """Process one raw bounce or complaint message now (for an MTA's pipe or a webhook)."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BOUNCE_BYTES:
            raise HTTPException(413, detail="message larger than 10 MB")
    if not raw.strip():
        raise HTTPException(422, detail="send the raw message as the request body")
    report = parse_report(raw, settings)
    outcome = apply_report(session, report=report, settings=settings)
    return BounceOut(action=outcome.action, reason=outcome.reason, delivery_id=outcome.delivery_id)


class StatsOut(BaseModel):
    subscribers_by_status: dict[str, int]
    subscribers_by_category: dict[str, int]
    all_categories: int
    active_by_frequency: dict[str, int] = Field(
        description="Active subscribers by frequency (ngay-khi-co, hang-ngay, hang-tuan)"
    )
    suppressed: int
    bounced_messages: int
    complaints: int


@router.get("/stats", tags=["stats"], response_model=StatsOut, dependencies=[ReadScope])
def stats(session: SessionDep) -> StatsOut:
    """Subscriber counts by status and category, suppressions, bounces and complaints."""
    numbers = subscriber_stats(session)
    overview = subscriber_overview(session, now=dt.datetime.now(dt.UTC))
    return StatsOut(
        subscribers_by_status=numbers.by_status,
        subscribers_by_category={c.slug: c.subscribers for c in overview.by_category},
        all_categories=overview.all_categories,
        active_by_frequency=count_by_frequency(session),
        suppressed=numbers.suppressed,
        bounced_messages=numbers.bounced_messages,
        complaints=numbers.complaints,
    )


class SubscriberOut(BaseModel):
    id: int
    email: str
    status: str
    categories: list[str]
    frequency: Frequency = Field(
        description="How often the articles reach them: ngay-khi-co (immediately), "
        "hang-ngay (daily), hang-tuan (weekly)"
    )
    areas: list[str] = Field(default_factory=list, description="Area codes; empty: every area")
    created_at: dt.datetime
    confirmed_at: dt.datetime | None

    @classmethod
    def of(cls, s: Subscriber) -> SubscriberOut:
        """The one way a subscriber row becomes this answer (list and PATCH alike)."""
        return cls(
            id=s.id,
            email=s.email,
            status=s.status.value,
            categories=[c.slug for c in s.categories],
            frequency=s.frequency,
            areas=[a.code for a in s.areas],
            created_at=s.created_at,
            confirmed_at=s.confirmed_at,
        )


@router.get(
    "/subscribers",
    tags=["subscribers"],
    response_model=list[SubscriberOut],
    dependencies=[ReadScope],
)
def subscribers(
    session: SessionDep,
    q: Annotated[str, Query(max_length=320, description="Exact address, or its beginning")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    frequency: Annotated[
        Frequency | None, Query(description="Only subscribers who chose this frequency")
    ] = None,
) -> list[SubscriberOut]:
    """Find subscribers by address (and frequency)."""
    return [
        SubscriberOut.of(s)
        for s in search_subscribers(session, query=q, limit=limit, frequency=frequency)
    ]
