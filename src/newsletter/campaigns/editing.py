"""Editing a draft bulletin: same rules as writing one; an approval given before is withdrawn."""

from __future__ import annotations

import unicodedata

from sqlalchemy.orm import Session

from newsletter.accounts.audit import record_audit
from newsletter.campaigns.approval import draft_bulletin, withdraw_approval
from newsletter.campaigns.build import CampaignError, clean_subject
from newsletter.content.categories import categories_by_slug
from newsletter.mail.markdown_text import markdown_to_text
from newsletter.models import Campaign
from newsletter.sanitize import markdown_to_html


def edit_bulletin(
    session: Session,
    *,
    campaign_id: int,
    subject: str,
    body_markdown: str,
    category_slugs: list[str],
    actor: str,
) -> Campaign:
    """Replace the draft's subject, body and categories; audited. ApprovalError once it
    started; CampaignError / ValueError for bad input (nothing changed then)."""
    campaign = draft_bulletin(session, campaign_id)
    body = unicodedata.normalize("NFC", body_markdown).replace("\r\n", "\n").strip()
    if not body:
        raise CampaignError("a bulletin needs a body")
    new_subject = clean_subject(subject)
    categories = categories_by_slug(session, category_slugs)
    campaign.subject = new_subject
    campaign.body_markdown = body
    campaign.body_html = markdown_to_html(body)
    campaign.body_text = markdown_to_text(body)
    campaign.categories = categories
    record_audit(session, actor=actor, action="bulletin.edited", target=f"campaign {campaign_id}")
    withdraw_approval(session, campaign, actor=actor, why="the bulletin was edited")
    return campaign
