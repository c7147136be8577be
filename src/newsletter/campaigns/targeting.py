"""Whom a campaign targets, said the same way by the admin, the API, the CLI and the audit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from newsletter.campaigns.audience import count_eligible
from newsletter.models import Campaign


def vi_number(value: int) -> str:
    """12304 → '12.304' (Vietnamese groups thousands with a dot)."""
    return f"{value:,}".replace(",", ".")


@dataclass(frozen=True)
class Targeting:
    categories: list[tuple[str, str]]  # (slug, name)
    areas: list[tuple[str, str]]  # (code, name)
    recipients: int

    @property
    def recipients_vi(self) -> str:
        return f"sẽ gửi đến {vi_number(self.recipients)} người"

    def describe(self) -> str:
        """One English line for the audit trail and the CLI."""
        categories = ", ".join(slug for slug, _ in self.categories) or "every category"
        areas = ", ".join(code for code, _ in self.areas) or "every area"
        return f"{self.recipients} recipients; categories: {categories}; areas: {areas}"

    def as_dict(self) -> dict[str, object]:
        return {
            "categories": [slug for slug, _ in self.categories],
            "areas": [code for code, _ in self.areas],
            "recipients": self.recipients,
        }


def campaign_targeting(
    session: Session, *, campaign_id: int, recipients: int | None = None
) -> Targeting:
    """The campaign's categories and areas, and (unless given) its recipients now."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} does not exist")
    if recipients is None:
        recipients = count_eligible(session, campaign_id=campaign_id)
    return Targeting(
        categories=[(c.slug, c.name) for c in campaign.categories],
        areas=[(a.code, a.name) for a in campaign.areas],
        recipients=recipients,
    )
