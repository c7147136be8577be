"""Building campaigns: the period's digest from new articles, and admin bulletins."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.categories import categories_by_slug
from newsletter.mail.headers import HeaderInjectionError, check_header_value
from newsletter.mail.markdown_text import markdown_to_text
from newsletter.models import (
    Article,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Subscriber,
    SubscriberStatus,
)
from newsletter.sanitize import markdown_to_html
from newsletter.subscribers.areas import areas_by_code

FIRST_DIGEST_DAYS = 7
MAX_SUBJECT_CHARS = 300


class CampaignError(ValueError):
    """A campaign could not be built from what was given; the message says why."""


def digest_period(settings: Settings, now: dt.datetime) -> str:
    """The ISO week of `now` in NEWSLETTER_TIMEZONE, e.g. '2026-W48'."""
    year, week, _ = now.astimezone(ZoneInfo(settings.timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def digest_for_period(session: Session, period: str) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.kind == CampaignKind.DIGEST, Campaign.period == period)
    )


def digest_window_start(
    session: Session, *, now: dt.datetime
) -> tuple[dt.datetime, Campaign | None]:
    """Where the next digest's window starts, and the digest whose window ended there.

    The end of the last digest's window; FIRST_DIGEST_DAYS before `now` for the first.
    """
    previous = session.scalar(
        select(Campaign)
        .where(
            Campaign.kind == CampaignKind.DIGEST,
            Campaign.status != CampaignStatus.CANCELLED,
            Campaign.window_end.is_not(None),
        )
        .order_by(Campaign.window_end.desc())
        .limit(1)
    )
    if previous is None or previous.window_end is None or previous.window_end > now:
        return now - dt.timedelta(days=FIRST_DIGEST_DAYS), None
    return previous.window_end, previous


def new_article_ids(session: Session, *, start: dt.datetime, now: dt.datetime) -> list[int]:
    return list(
        session.scalars(
            select(Article.id)
            .where(Article.published_at >= start, Article.published_at < now)
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )


def plan_digest(session: Session, *, settings: Settings, now: dt.datetime) -> Campaign | None:
    """This period's digest, unsaved: articles published since the last digest's window.

    None when no article is new. Nothing is added to the session (previews use this).
    """
    # Imported here: the digest's subject needs Jinja2 and Babel; a bulletin (whose CLI
    # imports this module on its way to the first batch) needs neither.
    from newsletter.mail.digest import date_range, headline_context, item_from_article
    from newsletter.mail.render import MailRenderer

    start, _previous = digest_window_start(session, now=now)
    article_ids = new_article_ids(session, start=start, now=now)
    if not article_ids:
        return None
    date_from, date_to = date_range(settings, start, now)
    top = session.get(Article, article_ids[0])
    titles = [item_from_article(top).title] if top is not None else []
    subject = MailRenderer(settings).subject(
        "digest",
        {"date_from": date_from, "date_to": date_to, **headline_context(titles, len(article_ids))},
    )
    return Campaign(
        kind=CampaignKind.DIGEST,
        period=digest_period(settings, now),
        subject=subject,
        window_start=start,
        window_end=now,
        status=CampaignStatus.DRAFT,
        created_by="digest",
        # Frozen, so the archive and a resumed send show the same articles.
        meta={"article_ids": article_ids},
    )


def build_digest(session: Session, *, settings: Settings, now: dt.datetime) -> Campaign | None:
    """This period's digest campaign (a draft), or None when no article is new.

    A digest is unique per ISO week: when this week's exists it is returned unchanged,
    also when another process creates it at the same moment.
    """
    existing = digest_for_period(session, digest_period(settings, now))
    if existing is not None:
        return existing
    campaign = plan_digest(session, settings=settings, now=now)
    if campaign is None:
        return None
    try:
        with session.begin_nested():
            session.add(campaign)
    except IntegrityError:
        raced = digest_for_period(session, digest_period(settings, now))
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


def period_made(settings: Settings, campaign: Campaign, *, now: dt.datetime) -> NoDigest:
    tz = ZoneInfo(settings.timezone)
    today = now.astimezone(tz).date()
    # Periods are ISO weeks: the next one begins on Monday.
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    return NoDigest(
        NoDigestReason.PERIOD_MADE,
        f"this period's ({campaign.period}) is digest #{campaign.id} (status "
        f"{campaign.status.value}); one digest per period: `newsletter campaigns show "
        f"{campaign.id}` shows it, the next period begins on {next_monday:%Y-%m-%d}",
        campaign_id=campaign.id,
    )


def nothing_new(session: Session, *, settings: Settings, now: dt.datetime) -> NoDigest:
    start, previous = digest_window_start(session, now=now)
    since = (
        f"the end of digest #{previous.id}'s window"
        if previous is not None
        else f"a first digest looks back {FIRST_DIGEST_DAYS} days"
    )
    return NoDigest(
        NoDigestReason.NOTHING_NEW,
        f"nothing new since {_local(settings, start)} ({settings.timezone}; {since}): "
        "add articles (`newsletter feeds poll`, `newsletter articles import FILE`, or "
        "`newsletter articles import --demo`, which dates the demo articles up to now) "
        "and try again",
    )


def has_active_subscriber(session: Session) -> bool:
    return (
        session.scalar(
            select(Subscriber.id).where(Subscriber.status == SubscriberStatus.ACTIVE).limit(1)
        )
        is not None
    )


def no_active_subscriber() -> NoDigest:
    # No address of the site here: a command in another terminal may not know the port
    # `newsletter run` serves on.
    return NoDigest(
        NoDigestReason.NO_SUBSCRIBER,
        "no active subscriber: subscribe on the site's page and open the confirmation "
        "link (`newsletter outbox --last --links` shows it when mail goes to the Maildir "
        "outbox), or import confirmed addresses with `newsletter subscribers "
        "import FILE.csv --consent-source TEXT`",
    )


def digest_to_start(
    session: Session, *, settings: Settings, now: dt.datetime
) -> Campaign | NoDigest:
    """This period's draft digest (built now when needed), or why there is none to start.

    A digest with no active subscriber would go to nobody and still take the period, so
    none is built then.
    """
    existing = digest_for_period(session, digest_period(settings, now))
    if existing is not None and existing.status is not CampaignStatus.DRAFT:
        return period_made(settings, existing, now=now)
    if not has_active_subscriber(session):
        return no_active_subscriber()
    campaign = build_digest(session, settings=settings, now=now)
    if campaign is None:
        return nothing_new(session, settings=settings, now=now)
    if campaign.status is not CampaignStatus.DRAFT:  # another process made it meanwhile
        return period_made(settings, campaign, now=now)
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
