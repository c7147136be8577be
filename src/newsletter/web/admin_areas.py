"""Admin page listing the areas (khu vực) and how many residents chose each."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from newsletter.models import Area, Subscriber, SubscriberStatus, subscriber_areas
from newsletter.subscribers.areas import list_areas
from newsletter.web.admin_auth import AdminDep
from newsletter.web.admin_pages import page
from newsletter.web.deps import SessionDep

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/areas")
def areas_page(request: Request, admin: AdminDep, session: SessionDep) -> HTMLResponse:
    active = Subscriber.status == SubscriberStatus.ACTIVE
    counted = session.execute(
        select(Area.code, func.count(Subscriber.id))
        .join(subscriber_areas, subscriber_areas.c.area_id == Area.id)
        .join(Subscriber, Subscriber.id == subscriber_areas.c.subscriber_id)
        .where(active)
        .group_by(Area.code)
    )
    residents = dict(counted.all())
    everywhere = session.scalar(
        select(func.count()).where(active, Subscriber.reads_every_area.is_(True))
    )
    return page(
        request,
        "areas.html",
        {
            "admin": admin,
            "areas": list_areas(session),
            "residents": residents,
            "everywhere": everywhere or 0,
        },
    )
