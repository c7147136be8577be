"""Building campaigns: the period's digest from new articles, and admin bulletins."""

from __future__ import annotations

import datetime as dt
import unicodedata
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.categories import categories_by_slug
from newsletter.mail.headers import HeaderInjectionError, check_header_value
from newsletter.mail.markdown_text import markdown_to_text
from newsletter.models import Article, Campaign, CampaignKind, CampaignStatus
from newsletter.sanitize import markdown_to_html

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


def plan_digest(session: Session, *, settings: Settings, now: dt.datetime) -> Campaign | None:
    """This period's digest, unsaved: articles published since the last digest's window.

    None when no article is new. Nothing is added to the session (previews use this).
    """
    # Imported here: the digest's subject needs Jinja2 and Babel; a bulletin (whose CLI
    # imports this module on its way to the first batch) needs neither.
    from newsletter.mail.digest import date_range, headline_context, item_from_article
    from newsletter.mail.render import MailRenderer

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
    start = previous.window_end if previous and previous.window_end else None
    if start is None or start > now:
        start = now - dt.timedelta(days=FIRST_DIGEST_DAYS)
    article_ids = list(
        session.scalars(
            select(Article.id)
            .where(Article.published_at >= start, Article.published_at < now)
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )
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
) -> Campaign:
    """A draft bulletin: Markdown rendered to sanitised HTML; no categories means everyone."""
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
    )
    session.add(campaign)
    session.flush()
    return campaign
