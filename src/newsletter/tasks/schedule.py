"""NEWSLETTER_DIGEST_SCHEDULE as the crontab beat runs the weekly digest on.

Beat evaluates it in NEWSLETTER_TIMEZONE (the Celery app's timezone). What a digest holds,
and its period (unique per kind), is campaigns.build_digest's business.
"""

from __future__ import annotations

from celery.schedules import crontab

from newsletter.config import Settings


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
