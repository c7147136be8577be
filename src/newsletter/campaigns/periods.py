"""The two digests' periods: the weekly digest's ISO week and the daily digest's day.

One digest per period and kind (`campaigns` is unique on (kind, period)), both periods
taken in NEWSLETTER_TIMEZONE. Alerts have no period of their own: theirs is the arrival
batch (campaigns/alerts.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from newsletter.config import Settings
from newsletter.models import CampaignKind, Frequency


@dataclass(frozen=True)
class Cadence:
    kind: CampaignKind
    frequency: Frequency
    first_days: int  # how far the first digest of this kind looks back
    unit: str  # English, for the "no digest" reasons: "week", "day"

    def period(self, settings: Settings, now: dt.datetime) -> str:
        """'2026-W48' for the weekly digest, '2026-12-04' for the daily one (local time)."""
        local = now.astimezone(ZoneInfo(settings.timezone))
        if self.kind is CampaignKind.DAILY_DIGEST:
            return local.date().isoformat()
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"

    def next_period_start(self, settings: Settings, now: dt.datetime) -> dt.date:
        today = now.astimezone(ZoneInfo(settings.timezone)).date()
        if self.kind is CampaignKind.DAILY_DIGEST:
            return today + dt.timedelta(days=1)
        return today + dt.timedelta(days=7 - today.weekday())  # ISO weeks begin on Monday


WEEKLY = Cadence(CampaignKind.DIGEST, Frequency.WEEKLY, 7, "week")
DAILY = Cadence(CampaignKind.DAILY_DIGEST, Frequency.DAILY, 1, "day")
CADENCES = {Frequency.WEEKLY: WEEKLY, Frequency.DAILY: DAILY}


def cadence_for(frequency: Frequency | str) -> Cadence:
    """The digest of `frequency` (hang-tuan, hang-ngay); ValueError for any other."""
    try:
        return CADENCES[Frequency(frequency)]
    except (KeyError, ValueError):
        raise ValueError(
            f"no digest for frequency {frequency!r}: use hang-ngay or hang-tuan"
        ) from None
