"""A stored campaign as mail: its composer, and the admin's test copy sent outside the ledger.

The composer itself (mail/composer.py) knows no session; this module reads what it needs
from the store: the campaign, and for a digest its articles (load_digest_content).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from newsletter.config import Settings
from newsletter.content.arrivals import NEWS_DAYS, is_news
from newsletter.delivery.transport import open_transport
from newsletter.mail.composer import ARTICLE_KINDS, CampaignComposer
from newsletter.mail.digest import DigestContent, SectionCategory, item_from_article
from newsletter.mail.dkim import signer_from_settings
from newsletter.mail.outgoing import Composer, Recipient
from newsletter.models import Article, Campaign, CampaignKind, Category
from newsletter.runtime import Runtime

# How far back a subscriber's older watermark reaches: a resident back after months gets
# the last month's news, not everything since.
BACKLOG_DAYS = 31
EDITIONS = {
    CampaignKind.DIGEST: "Bản tin tuần",
    CampaignKind.DAILY_DIGEST: "Bản tin ngày",
    CampaignKind.ALERT: "Tin mới",
}


def load_digest_content(session: Session, campaign: Campaign) -> DigestContent:
    """The content of a digest campaign: its frozen article list, or its window."""
    if campaign.window_start is None or campaign.window_end is None:
        raise ValueError(f"campaign {campaign.id} is not a digest with a window")
    ids = (campaign.meta or {}).get("article_ids")
    query = select(Article)
    if ids is not None:
        query = query.where(Article.id.in_([int(i) for i in ids]))
    else:
        query = query.where(
            Article.published_at >= campaign.window_start,
            Article.published_at < campaign.window_end,
        )
    articles = list(session.scalars(query).all())
    upto = (campaign.meta or {}).get("upto")
    if upto is not None:
        # Subscribers whose watermark is older than this list get the news they have
        # not had yet (delivery/watermarks.py): the backlog up to `upto`, at most
        # BACKLOG_DAYS of arrivals, news only (content/arrivals.is_news).
        own = {a.id for a in articles}
        since = campaign.window_end - dt.timedelta(days=BACKLOG_DAYS)
        backlog = session.scalars(
            select(Article).where(
                Article.id <= int(upto),
                Article.first_seen_at >= since,
                # Implied by is_news, and served by the published_at index: each batch
                # task builds a composer, so this must not read the whole table.
                Article.published_at >= since - dt.timedelta(days=NEWS_DAYS),
                Article.id.not_in(own) if own else true(),
            )
        ).all()
        extra = [item_from_article(a, own=False) for a in backlog if is_news(a)]
    else:
        extra = []
    categories = [
        SectionCategory(c.id, c.slug, c.name, c.position) for c in session.scalars(select(Category))
    ]
    return DigestContent(
        items=[item_from_article(a) for a in articles] + extra,
        edition=EDITIONS.get(campaign.kind, EDITIONS[CampaignKind.DIGEST]),
        categories=categories,
        window_start=campaign.window_start,
        window_end=campaign.window_end,
    )


TEST_SUBJECT_PREFIX = "[THỬ] "


def composer_for_campaign(
    session: Session,
    settings: Settings,
    campaign: Campaign,
    *,
    subject_prefix: str = "",
    **options: Any,
) -> CampaignComposer:
    """A composer for `campaign`, which may be unsaved (a preview of this period's digest).

    `subject_prefix` goes before the subject (the test copy's marker).
    """
    options.setdefault("signer", signer_from_settings(settings))
    subject = subject_prefix + campaign.subject
    if campaign.kind in ARTICLE_KINDS:
        return CampaignComposer(
            settings,
            kind=campaign.kind,
            campaign_id=campaign.id,
            subject=subject,
            digest=load_digest_content(session, campaign),
            **options,
        )
    return CampaignComposer(
        settings,
        kind=campaign.kind,
        campaign_id=campaign.id,
        subject=subject,
        body_html=campaign.body_html or "",
        body_text=campaign.body_text or "",
        issued_at=campaign.started_at or campaign.created_at,
        **options,
    )


def composer_for(
    session: Session, settings: Settings, campaign_id: int, *, subject_prefix: str = ""
) -> Composer:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    return composer_for_campaign(session, settings, campaign, subject_prefix=subject_prefix)


def send_test(runtime: Runtime, *, campaign_id: int, address: str) -> str:
    """Send one copy of a campaign to `address` now, outside the ledger; its Message-ID.

    The one mail an official sends inline (from the admin, the API or `bulletin send
    --test-to`): they wait for it to check it. Its personal links point at no subscriber
    (id 0), so they lead nowhere, and its subject starts with TEST_SUBJECT_PREFIX so that
    neither the official nor a colleague it is forwarded to takes it for the real one.
    """
    with runtime.sessions() as session:
        composer = composer_for(
            session, runtime.settings, campaign_id, subject_prefix=TEST_SUBJECT_PREFIX
        )
    message = composer.compose(
        Recipient(delivery_id=0, subscriber_id=0, email=address, category_ids=frozenset())
    )
    transport = open_transport(runtime.settings.smtp_url)
    try:
        transport.send(
            sender=message.envelope_from, recipient=message.recipient, message=message.data
        )
    finally:
        transport.close()
    return message.message_id
