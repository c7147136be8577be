"""The weekly digest's period and its campaign, built from the articles since the last one.

A period is the latest slot of NEWSLETTER_DIGEST_SCHEDULE (cron, in NEWSLETTER_TIMEZONE)
at or before now, e.g. "2026-11-23T07:00". campaigns has UNIQUE (kind, period), so two
beats, a re-run, or `digest send --now` after beat never make two digests for one slot.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.models import Article, Campaign, CampaignKind, CampaignStatus, Category, utcnow

# The first digest covers the week before it (later ones start where the last ended).
FIRST_WINDOW = dt.timedelta(days=7)


class ScheduleError(ValueError):
    """NEWSLETTER_DIGEST_SCHEDULE is not a cron expression this service can use."""


def digest_crontab(settings: Settings) -> crontab:
    try:
        return crontab.from_string(settings.digest_schedule)
    except (ValueError, IndexError) as exc:
        raise ScheduleError(
            f"NEWSLETTER_DIGEST_SCHEDULE={settings.digest_schedule!r} is not a cron expression "
            '"minute hour day-of-month month day-of-week" (e.g. "0 7 * * mon")'
        ) from exc


def current_slot(settings: Settings, now: dt.datetime) -> dt.datetime:
    """The latest time the schedule fires at or before `now`, in the local timezone."""
    cron = digest_crontab(settings)
    local = now.astimezone(ZoneInfo(settings.timezone))
    day = local.date()
    for _ in range(4 * 366):  # a cron that fires at all fires within four years
        celery_dow = (day.weekday() + 1) % 7  # celery: 0 = Sunday
        if (
            day.month in cron.month_of_year
            and day.day in cron.day_of_month
            and celery_dow in cron.day_of_week
        ):
            for hour in sorted(cron.hour, reverse=True):
                for minute in sorted(cron.minute, reverse=True):
                    slot = dt.datetime.combine(day, dt.time(hour, minute), local.tzinfo)
                    if slot <= local:
                        return slot
        day -= dt.timedelta(days=1)
    raise ScheduleError(f"NEWSLETTER_DIGEST_SCHEDULE={settings.digest_schedule!r} never fires")


def period_key(slot: dt.datetime) -> str:
    return slot.strftime("%Y-%m-%dT%H:%M")


def _vn_date(value: dt.datetime, settings: Settings) -> str:
    return value.astimezone(ZoneInfo(settings.timezone)).strftime("%d/%m/%Y")


def create_digest(
    session: Session, *, settings: Settings, now: dt.datetime | None = None
) -> Campaign | None:
    """This period's digest as a draft campaign, or None (no new article, or already made).

    The window runs from the end of the previous digest (seven days back for the first)
    to now, half-open like the composer reads it; the article ids are frozen in `meta`
    so a resumed send and the archive show the same articles. Its target categories are
    those of its articles, or everyone when one article has no category.
    """
    now = now or utcnow()
    period = period_key(current_slot(settings, now))
    if session.scalar(
        select(Campaign.id).where(Campaign.kind == CampaignKind.DIGEST, Campaign.period == period)
    ):
        return None
    previous_end = session.scalar(
        select(func.max(Campaign.window_end)).where(
            Campaign.kind == CampaignKind.DIGEST, Campaign.status != CampaignStatus.CANCELLED
        )
    )
    start = previous_end if previous_end and previous_end <= now else now - FIRST_WINDOW
    articles = session.execute(
        select(Article.id, Article.title, Article.url, Article.category_id)
        .where(Article.published_at >= start, Article.published_at < now)
        .order_by(Article.published_at.desc(), Article.id.desc())
    ).all()
    if not articles:
        return None
    dates = f"{_vn_date(start, settings)} – {_vn_date(now, settings)}"
    subject = f"Bản tin {settings.org_short_name}: {dates}"
    lines = [subject, ""] + [f"- {a.title}\n  {a.url}" for a in articles]
    campaign = Campaign(
        kind=CampaignKind.DIGEST,
        period=period,
        subject=subject,
        body_text="\n".join(lines),
        window_start=start,
        window_end=now,
        status=CampaignStatus.DRAFT,
        created_by="schedule",
        meta={"article_ids": [a.id for a in articles]},
    )
    if all(a.category_id is not None for a in articles):
        ids = {a.category_id for a in articles}
        campaign.categories = list(session.scalars(select(Category).where(Category.id.in_(ids))))
    try:
        with session.begin_nested():
            session.add(campaign)
    except IntegrityError:
        return None  # another beat or a CLI run made this period's digest just now
    return campaign
