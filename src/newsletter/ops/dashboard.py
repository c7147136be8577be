"""What the admin dashboard shows, read through indexes and maintained counters.

Counts group by indexed columns (subscribers.status, subscriber_categories.category_id,
subscribers.created_at) and campaigns carry their own counters, so no page load scans
the delivery ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from newsletter.models import (
    Campaign,
    CampaignKind,
    Category,
    Feed,
    Subscriber,
    SubscriberStatus,
    subscriber_categories,
)
from newsletter.subscribers.frequency import count_by_frequency

# What each campaign kind is, in the admin's words.
CAMPAIGN_KIND_WORDS = {
    CampaignKind.DIGEST: "weekly digest",
    CampaignKind.DAILY_DIGEST: "daily digest",
    CampaignKind.ALERT: "alert (new articles)",
    CampaignKind.BULLETIN: "bulletin",
}


@dataclass(frozen=True)
class CategoryCount:
    slug: str
    name: str
    subscribers: int


@dataclass(frozen=True)
class SubscriberOverview:
    by_status: dict[str, int]
    by_category: list[CategoryCount]
    # Active and pending subscribers with no category rows: they get (once confirmed,
    # will get) every category.
    all_categories: int
    new_per_week: list[tuple[dt.date, int]]
    # Active subscribers by the frequency they chose (every value present).
    by_frequency: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def subscriber_overview(
    session: Session, *, now: dt.datetime, weeks: int = 8
) -> SubscriberOverview:
    by_status = {status.value: 0 for status in SubscriberStatus}
    for status, count in session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    ):
        by_status[status.value] = count
    rows = session.execute(
        select(Category.slug, Category.name, func.count(subscriber_categories.c.subscriber_id))
        .select_from(Category)
        .outerjoin(subscriber_categories, subscriber_categories.c.category_id == Category.id)
        .group_by(Category.id, Category.slug, Category.name, Category.position)
        .order_by(Category.position, Category.id)
    ).all()
    # Exact, from the partial index of reads_every_category; subtracting the subscribers
    # with a choice from active + pending miscounted whoever unsubscribed with a choice.
    reads_everything = session.scalar(
        select(func.count()).where(
            Subscriber.reads_every_category == true(),
            Subscriber.status.in_([SubscriberStatus.ACTIVE, SubscriberStatus.PENDING]),
        )
    )
    start = (now - dt.timedelta(weeks=weeks)).date()
    start -= dt.timedelta(days=start.weekday())  # weeks start on Monday
    created = session.scalars(
        select(Subscriber.created_at).where(
            Subscriber.created_at >= dt.datetime.combine(start, dt.time(), dt.UTC)
        )
    )
    per_week: dict[dt.date, int] = {start + dt.timedelta(weeks=i): 0 for i in range(weeks + 1)}
    for when in created:
        day = when.date()
        monday = day - dt.timedelta(days=day.weekday())
        if monday in per_week:
            per_week[monday] += 1
    return SubscriberOverview(
        by_status=by_status,
        by_category=[CategoryCount(slug, name, count) for slug, name, count in rows],
        all_categories=reads_everything or 0,
        new_per_week=sorted(per_week.items()),
        by_frequency=count_by_frequency(session),
    )


def recent_campaigns(session: Session, *, limit: int = 20) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def feeds_overview(session: Session) -> list[Feed]:
    return list(session.scalars(select(Feed).order_by(Feed.id)))
