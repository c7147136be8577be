"""The tables of the data model in DESIGN.md. The truth lives here, never only in the broker.

One module per concern (subscribers, content, campaigns, accounts); importing this package
registers every table on `Base.metadata`, which Alembic and the tests read.
"""

from newsletter.models.accounts import AdminUser, ApiToken, AuditEvent
from newsletter.models.areas import Area, campaign_areas, subscriber_areas
from newsletter.models.base import NAMING_CONVENTION, Base, BigId, UTCDateTime, utcnow
from newsletter.models.campaigns import Campaign, Delivery
from newsletter.models.content import Article, ArticleBatch, Feed
from newsletter.models.enums import (
    CampaignKind,
    CampaignStatus,
    ConsentKind,
    DeliveryStatus,
    Frequency,
    SubscriberStatus,
)
from newsletter.models.subscribers import (
    Category,
    ConsentEvent,
    KeyFingerprint,
    Subscriber,
    Suppression,
    campaign_categories,
    subscriber_categories,
)

__all__ = [
    "NAMING_CONVENTION",
    "AdminUser",
    "ApiToken",
    "Area",
    "Article",
    "ArticleBatch",
    "AuditEvent",
    "Base",
    "BigId",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Category",
    "ConsentEvent",
    "ConsentKind",
    "Delivery",
    "DeliveryStatus",
    "Feed",
    "Frequency",
    "KeyFingerprint",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "UTCDateTime",
    "campaign_areas",
    "campaign_categories",
    "subscriber_areas",
    "subscriber_categories",
    "utcnow",
]
