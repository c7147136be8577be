"""Building campaigns: the period's digest from new articles, and admin bulletins."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.campaigns.periods import DAILY, WEEKLY, Cadence
from newsletter.config import Settings
from newsletter.content.categories import categories_by_slug
from newsletter.mail.headers import HeaderInjectionError, check_header_value
from newsletter.mail.markdown_text import markdown_to_text
from newsletter.models import (
    Article,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Frequency,
    Subscriber,
    SubscriberStatus,
)
from newsletter.sanitize import markdown_to_html
from newsletter.subscribers.areas import areas_by_code

FIRST_DIGEST_DAYS = 7
MAX_SUBJECT_CHARS = 300


class CampaignError(ValueError):
    """A campaign could not be built from what was given; the message says why."""


def digest_period(settings: Settings, now: dt.datetime, cadence: Cadence = WEEKLY) -> str:
    """The period of `now` in NEWSLETTER_TIMEZONE: '2026-W48' (weekly), '2026-12-04' (daily)."""
    return cadence.period(settings, now)


def digest_for_period(session: Session, period: str, cadence: Cadence = WEEKLY) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.kind == cadence.kind, Campaign.period == period)
    )


def digest_window_start(
    session: Session, *, now: dt.datetime, cadence: Cadence = WEEKLY
) -> tuple[dt.datetime, Campaign | None]:
    """Where the next digest's window starts, and the digest whose window ended there.

    The end of the last digest's window (of the same kind); the cadence's first_days
    (7 for the weekly digest, 1 for the daily) before `now` for the first.
    """
    previous = session.scalar(
        select(Campaign)
        .where(
            Campaign.kind == cadence.kind,
            Campaign.status != CampaignStatus.CANCELLED,
            Campaign.window_end.is_not(None),
        )
        .order_by(Campaign.window_end.desc())
        .limit(1)
    )
    if previous is None or previous.window_end is None or previous.window_end > now:
        return now - dt.timedelta(days=cadence.first_days), None
    return previous.window_end, previous


def new_article_ids(session: Session, *, start: dt.datetime, now: dt.datetime) -> list[int]:
    return list(
        session.scalars(
            select(Article.id)
            .where(Article.published_at >= start, Article.published_at < now)
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )


def last_article_id(session: Session) -> int:
    """The highest committed article id: a digest's `upto` (delivery/watermarks.py).

    Ingests commit in id order (content/arrivals.py), so no lower id commits later.
    """
    return session.scalar(select(func.max(Article.id))) or 0


def plan_digest(
    session: Session, *, settings: Settings, now: dt.datetime, cadence: Cadence = WEEKLY
) -> Campaign | None:
    """This period's digest, unsaved: articles published since the last digest's window.

    None when no article is new. Nothing is added to the session (previews use this).
    """
    # Imported here: the digest's subject needs Jinja2 and Babel; a bulletin (whose CLI
    # imports this module on its way to the first batch) needs neither.
    from newsletter.mail.digest import date_range, headline_context, item_from_article
    from newsletter.mail.render import MailRenderer

    start, _previous = digest_window_start(session, now=now, cadence=cadence)
    article_ids = new_article_ids(session, start=start, now=now)
    if not article_ids:
        return None
    edition = "Bản tin ngày" if cadence is DAILY else "Bản tin tuần"
    date_from, date_to = date_range(settings, start, now)
    top = session.get(Article, article_ids[0])
    titles = [item_from_article(top).title] if top is not None else []
    subject = MailRenderer(settings).subject(
        "digest",
        {
            "date_from": date_from,
            "date_to": date_to,
            "edition": edition,
            **headline_context(titles, len(article_ids)),
        },
    )
    return Campaign(
        kind=cadence.kind,
        period=digest_period(settings, now, cadence),
        subject=subject,
        window_start=start,
        window_end=now,
        status=CampaignStatus.DRAFT,
        created_by="digest",
        # Frozen, so the archive and a resumed send show the same articles; `upto` bounds
        # what subscribers with an older watermark get (delivery/watermarks.py).
        meta={"article_ids": article_ids, "upto": last_article_id(session)},
    )


def build_digest(
    session: Session, *, settings: Settings, now: dt.datetime, cadence: Cadence = WEEKLY
) -> Campaign | None:
    """This period's digest campaign (a draft), or None when no article is new.

    A digest is unique per period (ISO week, or day for the daily digest): when this
    period's exists it is returned unchanged, also when another process creates it at
    the same moment.
    """
    period = digest_period(settings, now, cadence)
    existing = digest_for_period(session, period, cadence)
    if existing is not None:
        return existing
    campaign = plan_digest(session, settings=settings, now=now, cadence=cadence)
    if campaign is None:
        return None
    try:
        with session.begin_nested():
            session.add(campaign)
    except IntegrityError:
        raced = digest_for_period(session, period, cadence)
        if raced is None:
            raise
        return raced
    return campaign


class NoDigestReason(StrEnum):
    PERIOD_MADE = "period-made"
    NO_SUBSCRIBER = "no-subscriber"
    NOTHING_NEW = "nothing-new"


@dataclass(frozen=True)
class NoDigest:
    """Why no digest starts now: the reason, and one English line saying what to do."""

    reason: NoDigestReason
    message: str
    campaign_id: int | None = None  # this period's digest, for PERIOD_MADE


def _local(settings: Settings, moment: dt.datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")


def period_made(
    settings: Settings, campaign: Campaign, *, now: dt.datetime, cadence: Cadence | None = None
) -> NoDigest:
    cadence = cadence or (DAILY if campaign.kind is CampaignKind.DAILY_DIGEST else WEEKLY)
    # Periods are ISO weeks (the next begins on Monday) or days.
    next_start = cadence.next_period_start(settings, now)
    return NoDigest(
        NoDigestReason.PERIOD_MADE,
        f"this period's ({campaign.period}) is digest #{campaign.id} (status "
        f"{campaign.status.value}); one digest per {cadence.unit}: `newsletter campaigns "
        f"show {campaign.id}` shows it, the next period begins on {next_start:%Y-%m-%d}",
        campaign_id=campaign.id,
    )


def nothing_new(
    session: Session, *, settings: Settings, now: dt.datetime, cadence: Cadence = WEEKLY
) -> NoDigest:
    start, previous = digest_window_start(session, now=now, cadence=cadence)
    days = "1 day" if cadence.first_days == 1 else f"{cadence.first_days} days"
    since = (
        f"the end of digest #{previous.id}'s window"
        if previous is not None
        else f"a first digest looks back {days}"
    )
    return NoDigest(
        NoDigestReason.NOTHING_NEW,
        f"nothing new since {_local(settings, start)} ({settings.timezone}; {since}): "
        "add articles (`newsletter feeds poll`, `newsletter articles import FILE`, or "
        "`newsletter articles import --demo`, which dates the demo articles up to now) "
        "and try again",
    )


def has_active_subscriber(session: Session, frequency: Frequency | None = None) -> bool:
    query = select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE)
    if frequency is not None:
        query = query.where(Subscriber.frequency == frequency)
    return session.scalar(query.limit(1)) is not None


def no_active_subscriber(cadence: Cadence = WEEKLY) -> NoDigest:
    # No address of the site here: a command in another terminal may not know the port
    # `newsletter run` serves on.
    return NoDigest(
        NoDigestReason.NO_SUBSCRIBER,
        f"no active subscriber chose {cadence.frequency.value} (one digest per "
        f"{cadence.unit}): subscribe on the site's page and open the confirmation "
        "link (`newsletter outbox --last --links` shows it when mail goes to the Maildir "
        "outbox), or import confirmed addresses with `newsletter subscribers "
        "import FILE.csv --consent-source TEXT`",
    )


def digest_to_start(
    session: Session, *, settings: Settings, now: dt.datetime, cadence: Cadence = WEEKLY
) -> Campaign | NoDigest:
    """This period's draft digest (built now when needed), or why there is none to start.

    A digest with no active subscriber of its frequency would go to nobody and still
    take the period, so none is built then.
    """
    existing = digest_for_period(session, digest_period(settings, now, cadence), cadence)
    if existing is not None and existing.status is not CampaignStatus.DRAFT:
        return period_made(settings, existing, now=now, cadence=cadence)
    if not has_active_subscriber(session, cadence.frequency):
        return no_active_subscriber(cadence)
    campaign = build_digest(session, settings=settings, now=now, cadence=cadence)
    if campaign is None:
        return nothing_new(session, settings=settings, now=now, cadence=cadence)
    if campaign.status is not CampaignStatus.DRAFT:  # another process made it meanwhile
        return period_made(settings, campaign, now=now, cadence=cadence)
    return campaign


def clean_subject(subject: str) -> str:
    subject = unicodedata.normalize("NFC", subject).strip()
    if not subject:
        raise CampaignError("a bulletin needs a subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise CampaignError(f"the subject is longer than {MAX_SUBJECT_CHARS} characters")
    try:
        return check_header_value(subject)
    except HeaderInjectionError as exc:
        raise CampaignError("the subject must be one line without control characters") from exc


def create_bulletin(
    session: Session,
    *,
    subject: str,
    body_markdown: str,
    category_slugs: list[str],
    created_by: str,
    area_codes: Collection[str] = (),
) -> Campaign:
    """A draft bulletin: Markdown rendered to sanitised HTML; no categories means everyone.

    `area_codes`: the areas it targets (none: every area); AreaError names unknown codes.
    """
    body = unicodedata.normalize("NFC", body_markdown).replace("\r\n", "\n").strip()
    if not body:
        raise CampaignError("a bulletin needs a body")
    campaign = Campaign(
        kind=CampaignKind.BULLETIN,
        period=None,
        subject=clean_subject(subject),
        body_markdown=body,
        body_html=markdown_to_html(body),
        body_text=markdown_to_text(body),
        status=CampaignStatus.DRAFT,
        created_by=created_by,
        categories=categories_by_slug(session, category_slugs),
        areas=areas_by_code(session, area_codes),
    )
    session.add(campaign)
    session.flush()
    return campaign
