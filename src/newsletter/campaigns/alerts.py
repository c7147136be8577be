"""Alerts: one mail per arrival batch to the residents who chose "ngay-khi-co".

An arrival batch (content/arrivals.py) is the new articles one transaction stored: a
feed's poll, a push to the API, a file import. Its alert is a campaign of kind `alert`,
period `batch-<id>`, on the urgent queue like a bulletin, to the active "ngay-khi-co"
subscribers who read one of its categories (or every category). Each reader gets the
batch's articles of their categories, and, when their watermark is older (they switched
from a digest), the news they have not had yet (delivery/watermarks.py).

A batch's `alerted_at` is set in the transaction that creates and starts its alert, so a
batch whose ingest committed but whose alert was never made (a crash in between, a broker
away) is still "unalerted" and the reconciler makes it (tasks/enqueue.start_alerts).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.arrivals import is_news
from newsletter.models import (
    Article,
    ArticleBatch,
    Campaign,
    CampaignKind,
    CampaignStatus,
    Category,
    Frequency,
)

# Batches one reconciler round turns into alerts (a backlog drains over a few rounds).
BATCHES_PER_ROUND = 20


def alert_period(batch_id: int) -> str:
    return f"batch-{batch_id}"


def unalerted_batches(session: Session, *, limit: int = BATCHES_PER_ROUND) -> list[int]:
    """Committed arrival batches whose alert was not decided yet, oldest first."""
    return list(
        session.scalars(
            select(ArticleBatch.id)
            .where(ArticleBatch.alerted_at.is_(None))
            .order_by(ArticleBatch.id)
            .limit(limit)
        )
    )


def build_alert(
    session: Session, *, settings: Settings, batch_id: int, now: dt.datetime
) -> Campaign | None:
    """The batch's alert as a draft, or None (decided already, no news, nobody immediate).

    Locks the batch row, so two reconcilers (or the ingest's own call) decide it once.
    The caller starts the draft in the same transaction (tasks/enqueue.start_alerts).
    """
    # Imported here, as in build.plan_digest: the subject needs Jinja2 and Babel.
    from newsletter.campaigns.build import has_active_subscriber
    from newsletter.mail.digest import headline_context, item_from_article
    from newsletter.mail.render import MailRenderer

    batch = session.get(ArticleBatch, batch_id, with_for_update=True)
    if batch is None or batch.alerted_at is not None:
        return None
    batch.alerted_at = now
    stored = list(session.scalars(select(Article).where(Article.batch_id == batch_id)))
    news = sorted(
        (a for a in stored if is_news(a)), key=lambda a: (a.published_at, a.id), reverse=True
    )
    if not news or not has_active_subscriber(session, Frequency.IMMEDIATELY):
        return None
    category_ids = {a.category_id for a in news}
    # An article of no category reaches only those who read every category; those are
    # in every alert's audience, so the alert then names no category (everyone).
    categories = (
        []
        if None in category_ids
        else list(session.scalars(select(Category).where(Category.id.in_(category_ids))))
    )
    titles = [item_from_article(a).title for a in news[:6]]
    subject = MailRenderer(settings).subject(
        "digest", {"edition": "Tin mới", **headline_context(titles, len(news))}
    )
    campaign = Campaign(
        kind=CampaignKind.ALERT,
        period=alert_period(batch_id),
        subject=subject,
        window_start=batch.created_at,
        window_end=now,
        status=CampaignStatus.DRAFT,
        created_by="alert",
        categories=categories,
        meta={
            "article_ids": [a.id for a in news],
            "upto": max(a.id for a in stored),
            "batch_id": batch_id,
        },
    )
    try:
        with session.begin_nested():
            session.add(campaign)
    except IntegrityError:  # made by another process that did not lock (cannot, but cheap)
        return None
    return campaign
