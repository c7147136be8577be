"""`PATCH /api/v1/subscribers/{id}`: change what a resident chose, for a portal's own
account page or an official acting on a resident's request (bearer token required)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from newsletter.accounts.audit import record_audit
from newsletter.models import Frequency, Subscriber
from newsletter.subscribers.consent import Consent
from newsletter.subscribers.frequency import set_frequency
from newsletter.web.api import Problem, api_router
from newsletter.web.api_auth import SendCallerDep
from newsletter.web.api_manage import SubscriberOut
from newsletter.web.deps import SessionDep, valid_row_id

router = api_router()


class SubscriberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency: Frequency = Field(
        description="ngay-khi-co (immediately), hang-ngay (daily) or hang-tuan (weekly)"
    )


@router.patch(
    "/subscribers/{subscriber_id}",
    tags=["subscribers"],
    response_model=SubscriberOut,
    responses={
        400: {"model": Problem, "description": "The body is not JSON"},
        404: {"model": Problem, "description": "No such subscriber"},
    },
)
def patch_subscriber(
    subscriber_id: int,
    body: SubscriberPatch,
    session: SessionDep,
    # Changing a resident's subscription is the sending side's: the widest scope, as for
    # bounce reports (docs/security.md "Roles, scopes and two officials").
    caller: SendCallerDep,
    request: Request,
) -> SubscriberOut:
    """Change a subscriber's frequency; a consent event and the audit trail record it."""
    found = session.get(Subscriber, subscriber_id) if valid_row_id(subscriber_id) else None
    if found is None:
        raise HTTPException(404, detail="no such subscriber")
    previous = found.frequency
    ip = request.client.host if request.client else None
    consent = Consent(ip=ip, user_agent=request.headers.get("user-agent"), via="api")
    set_frequency(session, subscriber_id=found.id, frequency=body.frequency, consent=consent)
    if previous is not body.frequency:
        record_audit(
            session,
            actor=f"api:{caller.name}",
            action="subscriber.frequency",
            target=str(found.id),
            detail=json.dumps({"from": previous.value, "to": body.frequency.value}),
            ip=ip,
        )
    return SubscriberOut.of(found)
